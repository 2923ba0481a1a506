"""What an installer hands back to the manager: install steps and the meaning of output lines.

Kept apart from the Protocol because a frozen dataclass costs about half a millisecond to
create, and only a build needs these: a warm run never imports this module.
"""

from __future__ import annotations

from mlrun_cli.values import valueclass


@valueclass
class InstallStep:
    """One install command: what it installs ("requirements"), its argv, how many lines."""

    what: str
    argv: tuple[str, ...]
    count: int


@valueclass
class Summary:
    """A summary line worth showing live ("Resolved 3 packages")."""

    text: str


@valueclass
class Collecting:
    """The installer started on one more package (shown as a live count)."""

    package: str


@valueclass
class Installed:
    """The installer reported how many packages it installed."""

    count: int


ProgressLine = Summary | Collecting | Installed
