"""The embedded store: one SQLite database and a folder per run, in ``./.mlrun``.

`SqliteStore` is assembled from one part per concern, each a module of this package:

- `connection`: the schema, opening the database, write transactions, the store's folders
- `experiments`: the experiments table
- `runs`: reading runs (by id or prefix, by search), metric history
- `writes`: creating runs, logging params/metrics/tags, status and lifecycle
- `index`: runs by tag (sweeps, submitted jobs) and leases (claim, adopt, release)
- `models`: MLflow 3 logged models, dataset inputs, model outputs
- `views`: what a view of many runs asks (`mlrun ui`): runs as columns, downsampled
  metric histories, metric summaries, changes since a cursor
- `registry`: the model registry (registered models, versions, aliases), `registry()`

It is the only `Store` with a `RunIndex`: `index()` returns the store itself.
"""

from __future__ import annotations

from mlrun_cli.store.base import NewRun, Run
from mlrun_cli.store.sqlite.experiments import ExperimentTable
from mlrun_cli.store.sqlite.index import RunLeases, TagIndex
from mlrun_cli.store.sqlite.models import ModelTables
from mlrun_cli.store.sqlite.registry import RegistryTables
from mlrun_cli.store.sqlite.runs import RunReads
from mlrun_cli.store.sqlite.views import RunViews
from mlrun_cli.store.sqlite.writes import RunWrites

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it

if TYPE_CHECKING:
    from pathlib import Path

    from mlrun_cli.store.base import Registry, RunIndex, Store


class SqliteStore(
    ExperimentTable,
    RunReads,
    RunWrites,
    TagIndex,
    RunLeases,
    ModelTables,
    RunViews,
    RegistryTables,
):
    """The embedded store. Safe for many concurrent processes."""

    def create_run(self, new: NewRun) -> Run:
        self.create_runs([new])
        return self.get_run(new.run_id)

    def index(self) -> SqliteStore:
        return self

    def server(self) -> None:
        return None

    def registry(self) -> SqliteStore:
        return self


if TYPE_CHECKING:
    # mypy checks here that the embedded store keeps the whole contract of base.py.
    def _is_a_store(root: Path) -> tuple[Store, RunIndex, Registry]:
        return SqliteStore(root), SqliteStore(root), SqliteStore(root)
