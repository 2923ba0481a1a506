"""The child's side of a run: its environment, where its mlflow client logs, and the helper.

The helper makes `mlrun_cli.tracking` importable in any child, without our other dependencies.

The child may run in an environment where mlrun-cli is not installed (a project virtualenv,
another interpreter on PATH). We keep a tiny copy of the standard-library-only helper in the
cache and append it to the child's PYTHONPATH. Its ``mlrun_cli/__init__.py`` extends its
package path, so where the full mlrun-cli is installed too, its other modules still import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli.digest import sha256
from mlrun_cli.envs import Environment
from mlrun_cli.paths import EVENTS_FILE, tool_path

_INIT = '''"""The mlrun-cli child helper (see mlrun_cli.tracking)."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
'''


def helper_path() -> Path:
    """A directory to put on the child's PYTHONPATH; built once per helper version."""
    here = Path(__file__).resolve().parent.parent / "tracking"
    sources = {name: (here / name).read_bytes() for name in ("__init__.py", "client.py")}
    digest = sha256(b"".join(sources.values()) + _INIT.encode()).hexdigest()[:16]
    root = tool_path("cache") / "child-helper" / digest
    if (root / "mlrun_cli" / "tracking" / "client.py").is_file():
        return root
    import shutil

    tmp = root.with_name(f"{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "mlrun_cli" / "tracking").mkdir(parents=True)
    (tmp / "mlrun_cli" / "__init__.py").write_text(_INIT)
    for name, data in sources.items():
        (tmp / "mlrun_cli" / "tracking" / name).write_bytes(data)
    try:
        os.replace(tmp, root)
    except OSError:
        # Another run published the same content first; theirs is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def child_environment(
    base: Mapping[str, str],
    *,
    run_id: str,
    experiment_id: str,
    tracking_uri: str,
    run_dir: Path,
    artifact_dir: Path,
    env: Environment,
) -> dict[str, str]:
    """The child's environment: ours, the env's PATH, and the tracking context."""
    child = dict(base)
    if env.bin_dir is not None:
        child["PATH"] = f"{env.bin_dir}{os.pathsep}{child.get('PATH', '')}"
        child["VIRTUAL_ENV"] = str(env.bin_dir.parent)
        child.pop("PYTHONHOME", None)
    child.update(env.extra_env)
    pythonpath = [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]
    child["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(helper_path())])
    # Output is streamed through pipes; unbuffered Python keeps it live, as on a terminal.
    child.setdefault("PYTHONUNBUFFERED", "1")
    child.update(
        {
            "MLRUN_RUN_ID": run_id,
            "MLRUN_EXPERIMENT_ID": experiment_id,
            "MLRUN_TRACKING_URI": tracking_uri,
            "MLRUN_EVENTS_FILE": str(run_dir / EVENTS_FILE),
            "MLRUN_ARTIFACT_DIR": str(artifact_dir),
        }
    )
    return child


def point_mlflow(
    child: dict[str, str],
    *,
    endpoint_env: Mapping[str, str] | None = None,
    server_uri: str | None = None,
    run_id: str = "",
    experiment_id: str = "",
) -> None:
    """Where the child's mlflow client logs: our loopback endpoint, or an MLflow server on
    which it resumes our run directly."""
    if endpoint_env is not None:
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            child.pop(var, None)  # basic auth would win over the endpoint's token
        child.update(endpoint_env)
    elif server_uri is not None:
        child.update(
            {
                "MLFLOW_TRACKING_URI": server_uri,
                "MLFLOW_RUN_ID": run_id,
                "MLFLOW_EXPERIMENT_ID": experiment_id,
            }
        )
