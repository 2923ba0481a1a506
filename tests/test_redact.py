"""Credentials never leave in text: URLs lose their user:password@, passwords with '@' too."""

from __future__ import annotations

import pytest

from mlrun_cli.redact import redact


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("https://user:secret@host/repo.git", "https://host/repo.git"),
        ("http://user:p@ss@host/repo.git", "http://host/repo.git"),
        ("https://tok@host/x and ssh://u:p@h:22/y", "https://host/x and ssh://h:22/y"),
        ("clone 'https://a:b@c/d' failed: fatal: x", "clone 'https://c/d' failed: fatal: x"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("mail me@example.com", "mail me@example.com"),
        ("https://host/path@v1", "https://host/path@v1"),
        ("no url here", "no url here"),
    ],
)
def test_redact(text: str, want: str) -> None:
    assert redact(text) == want


def test_messages_printed_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from mlrun_cli import console

    console.error("cannot fetch https://u:p@ss@host/r.git")
    console.out("https://u:secret@host/r.git")
    console.table(None, ["uri"], [["https://u:secret@host/r.git"]])
    captured = capsys.readouterr()
    assert "secret" not in captured.out + captured.err and "ss@" not in captured.err
    assert captured.err == "error: cannot fetch https://host/r.git\n"
