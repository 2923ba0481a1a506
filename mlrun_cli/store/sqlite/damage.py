"""A damaged or missing index (``mlrun.db``) said as one line that names the file and the way
back: the run folders hold every run's record (``run.json``), the registry folder every
registered model's (``registry/*.json``), and ``mlrun store repair`` rebuilds the index from
them.

SQLite reports damage when a page is read, which may be long after the file was opened (a
truncated file fails at once, garbage in the middle only when a query reaches it), so every
statement and every row fetched goes through `GuardedConnection`, which turns SQLite's
"malformed" and "not a database" into `StoreDamaged`. Other errors (a busy database, a
constraint) pass unchanged.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.sqlite.registry_record import REGISTRY_DIR

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

# SQLITE_CORRUPT and SQLITE_NOTADB (primary result codes); Python < 3.11 has only the message.
_DAMAGE_CODES = (11, 26)
_DAMAGE_WORDS = ("malformed", "not a database")
_HEX = frozenset("0123456789abcdef")


class StoreDamaged(TrackingError):
    """The store's index cannot be read: the file is damaged."""


class IndexGone(TrackingError):
    """The store's index is missing or empty while run folders remain beside it."""


def is_damage(exc: sqlite3.Error) -> bool:
    """True if `exc` says the database file itself is damaged."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGE_CODES
    text = str(exc).lower()
    return any(word in text for word in _DAMAGE_WORDS)


def run_folders(root: Path) -> list[Path]:
    """The run folders of the store at `root`: ``runs/<32 hex digits>``."""
    try:
        entries = list(os.scandir(root / "runs"))
    except OSError:
        return []
    return sorted(
        Path(e.path)
        for e in entries
        if len(e.name) == 32 and _HEX.issuperset(e.name) and e.is_dir(follow_symlinks=False)
    )


def registry_records(root: Path) -> int:
    """How many registered models' records the store at `root` keeps (``registry/*.json``)."""
    try:
        entries = list(os.scandir(root / REGISTRY_DIR))
    except OSError:
        return 0
    return sum(1 for e in entries if e.name.endswith(".json") and not e.name.startswith("."))


def repair_command(root: Path) -> str:
    """`mlrun store repair`, with --tracking-uri unless `root` is the default store here."""
    from mlrun_cli.paths import default_store_dir

    if root.absolute() == default_store_dir() and not os.environ.get("MLRUN_TRACKING_URI"):
        return "mlrun store repair"
    return f"mlrun store repair --tracking-uri {root}"


def _folders(root: Path) -> tuple[int, str]:
    """What remains beside the index: its run folders, else its registered models' records."""
    n = len(run_folders(root))
    if n == 0 and (k := registry_records(root)):
        models = f"{k} registered model{'s' if k != 1 else ''}"
        return k, f"record{'s' if k != 1 else ''} of {models} in {root / REGISTRY_DIR}"
    return n, f"{n} run folder{'s' if n != 1 else ''} in {root / 'runs'}"


def damaged(root: Path, db_path: Path, exc: BaseException) -> StoreDamaged:
    """The one line for a damaged index file."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    n, folders = _folders(root)
    if n == 0:
        return StoreDamaged(
            f"the store's index {db_path} is damaged ({reason}) and no run folders remain "
            f"beside it: run '{repair_command(root)}' to move it aside and start a new index"
        )
    return StoreDamaged(
        f"the store's index {db_path} is damaged ({reason}); the {folders} "
        f"{'remain' if n != 1 else 'remains'}: run '{repair_command(root)}' to rebuild the "
        f"index from {'them' if n != 1 else 'it'} (the damaged file is kept)"
    )


def check_not_gone(root: Path, db_path: Path) -> None:
    """Refuse to start a new, empty index where run folders show that one existed."""
    n, folders = _folders(root)
    if n == 0:
        return
    what = "is empty" if db_path.exists() else "is missing"
    raise IndexGone(
        f"the store's index {db_path} {what}, but the {folders} "
        f"{'remain' if n != 1 else 'remains'}: run '{repair_command(root)}' to rebuild the "
        f"index from {'them' if n != 1 else 'it'} so that no "
        f"{'run' if run_folders(root) else 'registered model'} is lost"
    )


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose fetches say a damaged file as `StoreDamaged`."""

    def _damaged(self, exc: sqlite3.Error) -> BaseException:
        conn = self.connection
        if is_damage(exc) and isinstance(conn, GuardedConnection):
            return damaged(conn.root, conn.db_path, exc)
        return exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None


class GuardedConnection(sqlite3.Connection):
    """A connection to the index at `db_path` of the store at `root` (set after opening)."""

    root: Path
    db_path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cur = self.cursor(GuardedCursor)
        try:
            return cur.execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and hasattr(self, "db_path"):
                raise damaged(self.root, self.db_path, exc) from None
            raise

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        cur = self.cursor(GuardedCursor)
        try:
            return cur.executemany(sql, parameters)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and hasattr(self, "db_path"):
                raise damaged(self.root, self.db_path, exc) from None
            raise
