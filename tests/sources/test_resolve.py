from __future__ import annotations

import pytest

from mlrun_cli.errors import SourceError
from mlrun_cli.sources.resolve import (
    check_uri,
    is_remote,
    split_subdir,
)


@pytest.mark.parametrize(
    "uri",
    [
        "https://github.com/org/repo.git",
        "http://host/x",
        "ssh://git@host:22/org/repo.git",
        "git://host/repo",
        "file:///srv/git/repo.git",
        "git@github.com:org/repo.git",
        "user.name@host.example:path/to/repo",
    ],
)
def test_remote_forms(uri: str) -> None:
    assert is_remote(uri)


@pytest.mark.parametrize("uri", [".", "/abs/dir", "rel/dir", "C:/x", "dir@v2"])
def test_local_forms(uri: str) -> None:
    assert not is_remote(uri)


def test_subdir_rules() -> None:
    assert split_subdir("https://h/x.git#a/b") == ("https://h/x.git", "a/b")
    assert split_subdir("./p") == ("./p", None)
    for bad in ("x#../y", "x#a/../../y", "x#/etc", "x#~/y", "x#"):
        with pytest.raises(SourceError):
            split_subdir(bad)


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("-u", None),
        ("--upload-pack=x", None),
        ("ext::sh", None),
        ("fd::3", None),
        ("transport::x", None),
        ("https://h/x", "-v"),
        ("https://h/x", "--output=/tmp/x"),
        ("a\nb", None),
    ],
)
def test_refused_before_git(uri: str, version: str | None) -> None:
    with pytest.raises(SourceError, match="refused"):
        check_uri(uri, version)
