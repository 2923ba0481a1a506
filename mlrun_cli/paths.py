"""Every path the tool writes to outside a tracking store is resolved here.

Tests point these at a temporary directory through the environment variables below.
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Literal

    PathKind = Literal["cache", "envs", "git", "logs", "validated", "checkouts"]


def tool_path(kind: PathKind) -> Path:
    """Return the directory for `kind`, without creating it.

    - cache: ``MLRUN_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlrun``, else ``~/.cache/mlrun``
    - envs: ``MLRUN_ENV_ROOT``, else ``<cache>/envs``
    - git, logs, validated, checkouts: below the cache
    """
    if kind == "envs" and os.environ.get("MLRUN_ENV_ROOT"):
        return Path(os.environ["MLRUN_ENV_ROOT"]).expanduser().absolute()
    explicit = os.environ.get("MLRUN_CACHE_DIR")
    if explicit:
        root = Path(explicit).expanduser().absolute()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        root = base.absolute() / "mlrun"
    return root if kind == "cache" else root / kind


STORE_DIR = ".mlrun"


def default_store_dir() -> Path:
    """The embedded store, found as git finds its repository: the nearest ``.mlrun`` holding
    a store in the current directory or a parent; else ``./.mlrun`` (created on first write).

    The search never goes above the home directory (from inside it), nor above a directory
    named in ``MLRUN_STORE_CEILING`` (paths separated by ``os.pathsep``, like git's
    GIT_CEILING_DIRECTORIES).
    """
    cwd = Path.cwd()
    ceilings = {
        Path(c).absolute() for c in os.environ.get("MLRUN_STORE_CEILING", "").split(os.pathsep) if c
    }
    home = Path.home().absolute()
    if home == cwd or home in cwd.parents:
        ceilings.add(home)
    for folder in (cwd, *cwd.parents):
        candidate = folder / STORE_DIR
        if (candidate / "mlrun.db").is_file():
            return candidate
        if folder in ceilings:
            break
    return cwd / STORE_DIR


# Inside a run's folder (`Store.run_dir`): what the child logs, and (below its artifacts) the
# copy of its output. The same names on this machine and on a cluster node.
EVENTS_FILE = "events.jsonl"
OUTPUT_LOG = "mlrun-output.log"
INGESTED_MARK = "ingested.json"  # how far the events file is recorded (a local run)
GROUP_FILE = "command.pgid"  # the command's process group (a local run)
