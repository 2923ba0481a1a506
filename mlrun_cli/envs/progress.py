"""The live progress of an install: its phases, each with a count that moves.

Fed the installer's output lines (through `Installer.parse_line`) and polled while a step runs.
On a terminal one status line rewrites itself ("resolving 41, downloading 12/30 (numpy-...)",
then "installing 57/88"); the installer's summary lines ("resolved 88 packages") are printed
as they come, on a terminal or not. The installing count is read from the env itself: the
`.dist-info` folders in its site-packages, since neither pip nor uv report each package they
install. Loaded by builds only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.envs.installers.steps import (
    DOWNLOADING,
    INSTALLING,
    PHASES,
    RESOLVING,
    Expect,
    Installed,
    ProgressLine,
    Summary,
    Tick,
)

POLL_SECONDS = 0.25


class Progress:
    """Shows an install's phases as they go and adds up how many packages were installed."""

    def __init__(self, parse: Callable[[str], ProgressLine | None], env_dir: Path) -> None:
        self._parse = parse
        self._env_dir = env_dir
        self.installed = 0
        self._seen: dict[str, set[str]] = {phase: set() for phase in PHASES}
        self._expected: dict[str, int] = dict.fromkeys(PHASES, 0)
        self._last_item = ""
        self._baseline: int | None = None
        self._polled = 0.0
        self._summarised = False

    def start_step(self) -> None:
        """A new install step: counts start again (the env's packages so far are the base)."""
        self._seen = {phase: set() for phase in PHASES}
        self._expected = dict.fromkeys(PHASES, 0)
        self._baseline = _dist_infos(self._env_dir)
        self._summarised = False

    def feed(self, line: str) -> None:
        """One line of the installer's output."""
        event = self._parse(line)
        if isinstance(event, Summary):
            console.progress_done()
            console.info(f"    {event.text[0].lower()}{event.text[1:]}")
            self._summarised = True
        elif isinstance(event, Tick):
            self._seen[event.phase].add(event.item)
            self._last_item = event.item
            self._show()
        elif isinstance(event, Expect):
            self._expected[event.phase] += event.count
            if event.phase == DOWNLOADING:  # what is fetched is then installed
                self._expected[INSTALLING] += event.count
        elif isinstance(event, Installed):
            self.installed += event.count

    def poll(self) -> None:
        """Called while a step runs: the installing count, from the env's site-packages."""
        now = time.monotonic()
        if now - self._polled < POLL_SECONDS or self._baseline is None:
            return
        self._polled = now
        count = _dist_infos(self._env_dir) - self._baseline
        if count > 0 and count != len(self._seen[INSTALLING]):
            self._seen[INSTALLING] = {str(i) for i in range(count)}
            self._last_item = ""
            self._show()

    def step_done(self) -> None:
        """The step ended: clear the status line; pip's resolution gets its summary here."""
        console.progress_done()
        collected = len(self._seen[RESOLVING])
        if collected and not self._summarised:
            console.info(f"    collected {collected} packages")

    def status(self) -> str:
        """The status line: each phase that has started, with its count (and total if known)."""
        parts = []
        for phase in PHASES:
            done, expected = len(self._seen[phase]), self._expected[phase]
            if not done:
                continue
            parts.append(f"{phase} {done}/{expected}" if expected >= done else f"{phase} {done}")
        text = ", ".join(parts)
        return f"{text} ({self._last_item})" if self._last_item else text

    def _show(self) -> None:
        console.progress(f"    {self.status()}")


def _dist_infos(env_dir: Path) -> int:
    """How many packages the env's site-packages hold (their .dist-info folders)."""
    total = 0
    lib = env_dir / "lib"
    try:
        versions = [e.path for e in os.scandir(lib) if e.name.startswith("python")]
    except OSError:
        return 0
    for version in versions:
        try:
            with os.scandir(os.path.join(version, "site-packages")) as it:
                total += sum(1 for e in it if e.name.endswith(".dist-info"))
        except OSError:
            continue
    return total
