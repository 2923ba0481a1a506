"""One real `mlrun ui` server on a sample store and one headless Chromium for the session.

The browser is the distribution's Chromium (``apt-get install chromium``), driven by
Playwright for Python; Playwright's own browser download is never used. Without either the
browser tests skip, saying why (and fail under CI=true).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui import sample

CHROMIUM = os.environ.get("MLRUN_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTES = Path("/tmp/notes")


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


class Ui:
    """The running server: its URL, store, token, and the process."""

    def __init__(self, proc: subprocess.Popen[str], url: str, root: Path) -> None:
        self.proc, self.url, self.root = proc, url.rstrip("/"), root


def start_ui(root: Path, *extra: str, env: dict[str, str] | None = None) -> Ui:
    """`mlrun ui --port 0` on the store at `root`; returns once it printed its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlrun_cli",
            "ui",
            "--port",
            "0",
            "--tracking-uri",
            str(root),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("mlrun ui: "):
        proc.kill()
        raise AssertionError(
            f"mlrun ui did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return Ui(proc, line.split(": ", 1)[1].strip(), root)


def stop_ui(ui: Ui) -> None:
    ui.proc.terminate()
    try:
        ui.proc.wait(10)
    except subprocess.TimeoutExpired:
        ui.proc.kill()
        ui.proc.wait(10)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui-store") / ".mlrun"
    sample.build(root).close()
    ui = start_ui(root, env={"MLRUN_CACHE_DIR": str(root.parent / "cache")})
    yield ui
    stop_ui(ui)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright; no browser download needed)")
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    # launch() gives the browser a fresh, temporary profile of its own each time.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A browser tab with the console watched: any error fails the test at the end."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        self.expected: list[str] = []  # parts of errors a test causes on purpose
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def shot(self, name: str, *, keep: bool = False, full: bool = False) -> Path:
        path = self.shots / f"ui-{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        if keep and NOTES.is_dir():
            shutil.copyfile(path, NOTES / path.name)
        return path


@pytest.fixture
def tab(browser: Any, tmp_path: Path) -> Iterator[Page]:
    # bypass_csp: the tests' own wait_for_function scripts are evaluated strings, which the
    # page's Content-Security-Policy (script-src 'self') refuses; the page's scripts are not.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = Page(context.new_page(), tmp_path)
    page.page.set_default_timeout(15_000)
    yield page
    context.close()
    errors = [e for e in page.errors if not any(x in e for x in page.expected)]
    assert errors == [], f"errors on the browser console: {errors}"


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)
