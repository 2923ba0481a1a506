"""Overhead of a docker_env run: `mlrun run` of a no-op docker_env project against a bare
`docker run --rm IMAGE true` on the same daemon and image, interleaved in the same run, and
against `mlflow run` of the same project where an MLflow virtualenv is ready.

The daemon is the one DOCKER_HOST names when it answers and has the image; otherwise, as
root with dockerd installed, one is started for the benchmark as the tests start theirs
(tests/docker_daemon.py: no bridge, host network, the debootstrapped base image). The image
is MLRUN_BENCH_IMAGE, else the tests' base image.

    python bench/docker.py [--repeat 10] [--mlflow-repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    Figure,
    Skip,
    compile_package,
    figure,
    median,
    mlflow_venv_dir,
    report,
    scoped_env,
    standalone,
    time_interleaved,
    write_project,
)

QUICK = {"repeat": 3, "mlflow_repeat": 1}
MLPROJECT = (
    "name: bench\ndocker_env:\n  image: {image}\nentry_points:\n  main:\n    command: 'true'\n"
)


def _has_image(image: str) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    proc = subprocess.run([docker, "image", "inspect", image], capture_output=True, check=False)
    return proc.returncode == 0


@contextlib.contextmanager
def _daemon(root: Path) -> Iterator[str]:
    """The image to use, with DOCKER_HOST pointing at a daemon that has it."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.docker_daemon import os_suite, running_daemon
    except ImportError as exc:
        raise Skip(f"cannot load the tests' docker daemon helper: {exc}") from None
    image = os.environ.get("MLRUN_BENCH_IMAGE") or f"mlrun-test-base:{os_suite() or 'bookworm'}"
    if _has_image(image):
        yield image
        return
    if os.environ.get("MLRUN_BENCH_IMAGE"):
        raise Skip(f"the daemon has no image {image} (MLRUN_BENCH_IMAGE)")
    try:
        with running_daemon(root) as daemon, scoped_env(DOCKER_HOST=daemon.host):
            yield daemon.image
    except BaseException as exc:  # pytest.skip raises its own BaseException
        if type(exc).__name__ in ("Skipped", "Failed"):
            raise Skip(str(exc)) from None
        raise


def run(repeat: int = 10, mlflow_repeat: int = 3) -> list[Figure]:
    compile_package()
    docker = shutil.which("docker")
    if docker is None:
        raise Skip("docker not found on PATH (apt-get install docker.io)")
    with tempfile.TemporaryDirectory() as tmp, _daemon(Path(tmp) / "dockerd") as image:
        root = Path(tmp)
        proj = write_project(root / "p", MLPROJECT.format(image=image))
        env = {
            "MLRUN_CACHE_DIR": str(root / "cache"),
            "MLRUN_TRACKING_URI": str(root / "store"),
            "MLRUN_CONTAINER_ENGINE": docker,
        }
        commands = {
            "docker run --rm IMAGE true": [docker, "run", "--rm", "--network", "host", image, "true"],
            "mlrun run <docker_env project>": [sys.executable, "-m", "mlrun_cli", "run", str(proj)],
        }  # fmt: skip
        times = time_interleaved(commands, repeat=repeat, cwd=root, env=env)
        mlflow_times = _mlflow(proj, root, mlflow_repeat)
    for label, values in {**times, **mlflow_times}.items():
        report(label, values)
    bare, ours = (median(v) * 1000 for v in times.values())
    figures = [
        figure(
            "mlrun run of a no-op docker_env project: overhead over docker run",
            ours - bare,
            "ms",
            "docker run --rm IMAGE true",
            bare,
        )
    ]
    if mlflow_times:
        theirs = median(next(iter(mlflow_times.values()))) * 1000
        figures.append(
            figure(
                "mlrun run of a no-op docker_env project vs mlflow run",
                ours,
                "ms",
                "mlflow run (same project, same image)",
                theirs,
                head_to_head=True,
            )
        )
    return figures


def _mlflow(proj: Path, root: Path, repeat: int) -> dict[str, list[float]]:
    """`mlflow run` of the project, where an MLflow virtualenv is ready (none is built)."""
    venv = mlflow_venv_dir(build=False)
    if venv is None or repeat <= 0:
        print("mlflow run: skipped (no MLflow virtualenv ready)")
        return {}
    mlflow = [str(venv / "bin" / "mlflow"), "run", str(proj)]
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    return time_interleaved(
        {"mlflow run <docker_env project>": mlflow}, repeat=repeat, cwd=root, env=env, warmup=1
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--mlflow-repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    sizes = {"repeat": args.repeat, "mlflow_repeat": args.mlflow_repeat}
    standalone("docker", run, sizes, json_file=args.json)


if __name__ == "__main__":
    main()
