from __future__ import annotations

from mlrun_cli.sources.git import strip_credentials
from mlrun_cli.sources.resolve import clone_cache_dir


def test_credentials_are_stripped() -> None:
    assert (
        strip_credentials("https://u:tok@h/x.git and ssh://tok@h/y")
        == "https://h/x.git and ssh://h/y"
    )
    assert strip_credentials("git@github.com:org/repo.git") == "git@github.com:org/repo.git"
    a = clone_cache_dir("https://u:one@h/x.git")
    assert a == clone_cache_dir("https://u:two@h/x.git")  # one cache per repository
    assert "one" not in str(a)


def test_a_password_with_an_at_sign_is_removed_whole() -> None:
    assert strip_credentials("fatal: https://u:p@ss@host/r.git not found") == (
        "fatal: https://host/r.git not found"
    )
