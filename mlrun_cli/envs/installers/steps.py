"""What an installer hands back to the manager: install steps and the meaning of output lines.

Kept apart from the Protocol because a frozen dataclass costs about half a millisecond to
create, and only a build needs these: a warm run never imports this module.

An install goes through phases: resolving, downloading (or preparing: building, unpacking),
installing. An installer's output lines become `Tick`s (one more item in a phase: the count
that moves), `Expect`s (how many items a phase will have, when the installer says so),
`Summary` lines (a phase is done: "Resolved 88 packages") and `Installed` (the final count).
"""

from __future__ import annotations

from mlrun_cli.values import valueclass

# The phases, in the order they are shown.
RESOLVING = "resolving"
DOWNLOADING = "downloading"
INSTALLING = "installing"
PHASES = (RESOLVING, DOWNLOADING, INSTALLING)


@valueclass
class InstallStep:
    """One install command: what it installs ("requirements"), its argv, how many lines."""

    what: str
    argv: tuple[str, ...]
    count: int


@valueclass
class Summary:
    """A summary line worth showing as it comes ("Resolved 3 packages")."""

    text: str


@valueclass
class Tick:
    """The installer started on one more item of a phase (a package, a file to download)."""

    phase: str
    item: str


@valueclass
class Expect:
    """The installer said a phase has `count` more items to go through."""

    phase: str
    count: int


@valueclass
class Installed:
    """The installer reported how many packages it installed."""

    count: int


ProgressLine = Summary | Tick | Expect | Installed
