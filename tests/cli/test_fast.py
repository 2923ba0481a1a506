"""`mlrun run` parsed without click: the same result as the click command, or no opinion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.cli.fast import CLICK_ONLY, FLAGS, VALUED, parse_run
from mlrun_cli.cli.run import run as run_command
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = """
name: fast
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
    command: "python -c 'import sys; print(\\"alpha\\", sys.argv[1])' {alpha}"
  fail:
    command: "python -c 'import sys; print(\\"bad\\", file=sys.stderr); sys.exit(7)'"
"""


def test_every_option_of_run_is_known_to_the_fast_parser() -> None:
    # An option added to the click command and not here would be refused by the fast parser
    # silently falling back; one handled here must mean the same parameter there.
    known = set(VALUED) | set(FLAGS) | set(CLICK_ONLY)
    for param in run_command.params:
        for opt in getattr(param, "opts", []):
            if param.param_type_name == "argument":
                continue
            assert opt in known, f"{opt} of 'mlrun run' is unknown to cli.fast"
            if opt in VALUED:
                assert VALUED[opt] == param.name
            if opt in FLAGS:
                assert FLAGS[opt] == param.name


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["run"], {"uri": ".", "params": []}),
        (["run", "proj", "-e", "train"], {"uri": "proj", "entry_point": "train"}),
        (["run", "-etrain", "proj"], {"uri": "proj", "entry_point": "train"}),
        (["run", "--entry-point=train"], {"entry_point": "train"}),
        (["run", "-P", "a=1", "--param", "b=2", "-Pc=3"], {"params": ["a=1", "b=2", "c=3"]}),
        (["-q", "run", "--json"], {"quiet": True, "as_json": True}),
        (["run", "--env-manager", "uv", "--no-mlflow-endpoint"], {"env_manager": "uv"}),
        (["run", "--backend", "local"], {"backend": "local"}),
        (["run", "-P", "x=-1"], {"params": ["x=-1"]}),
    ],
)
def test_plain_forms_are_parsed(argv: list[str], want: dict[str, object]) -> None:
    got = parse_run(argv)
    assert got is not None
    for key, value in want.items():
        assert got[key] == value


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["runs", "list"],
        ["--version"],
        ["run", "--help"],
        ["run", "-h"],
        ["run", "--dry-run"],
        ["run", "--backend", "slurm"],
        ["run", "--detach"],
        ["run", "--backend-config", "{}"],
        ["run", "--experiment-name", "a", "--experiment-id", "1"],
        ["run", "--env-manager", "nope"],
        ["run", "a", "b"],
        ["run", "-e"],
        ["run", "--unknown"],
        ["run", "--json=yes"],
        ["run", "--", "x"],
        ["--weird", "run"],
    ],
)
def test_anything_unusual_is_left_to_click(argv: list[str]) -> None:
    assert parse_run(argv) is None


def _normalized(text: str) -> str:
    return re.sub(r"[0-9a-f]{32}", "RUNID", text)


@pytest.mark.parametrize(
    "args",
    [
        ["-P", "alpha=0.7"],
        ["-e", "fail"],
        ["-P", "alpha=abc"],
        ["-e", "nope"],
        ["-P", "novalue"],
        ["--json", "-P", "alpha=1"],
        ["--env-manager", "local", "--run-name", "named"],
    ],
)
def test_fast_and_click_paths_give_the_same_result(
    mlrun: Mlrun, tmp_path: Path, isolated: Path, args: list[str]
) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    mlrun("run", str(project))  # says once that the project declares no environment
    fast = mlrun("run", str(project), *args)
    slow = mlrun("run", str(project), *args, env={"MLRUN_NO_FAST_PATH": "1"})
    assert fast.returncode == slow.returncode
    assert _normalized(fast.stderr) == _normalized(slow.stderr)
    if "--json" in args:
        got, want = json.loads(fast.stdout), json.loads(slow.stdout)
        assert got.pop("timings").keys() == want.pop("timings").keys()
        assert got.pop("run_id") != want.pop("run_id")
        assert got == want and got["schema"] == "mlrun.run/1"
    else:
        assert _normalized(fast.stdout) == _normalized(slow.stdout)


def test_a_warm_run_imports_neither_click_nor_dataclasses(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    argv = [sys.executable, "-X", "importtime", "-m", "mlrun_cli", "run", str(project)]
    argv += ["--env-manager", "local"]
    subprocess.run(argv, capture_output=True, check=True, timeout=60)  # warm the caches
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    for heavy in ("click", "dataclasses", "inspect", "rich", "yaml", "jsonschema", "_hashlib"):
        assert heavy not in imported, f"a warm run imports {heavy}"


def test_a_warm_run_with_a_uv_env_imports_nothing_heavy(tmp_path: Path, isolated: Path) -> None:
    from mlrun_cli.envs.interpreters import usable_uv

    if usable_uv() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv cannot run here, and it is a dependency of mlrun-cli")
        pytest.skip("uv cannot run here")
    py = "{}.{}".format(*sys.version_info[:2])
    project = write_project(
        tmp_path / "p",
        PROJECT.replace("entry_points:", "python_env: python_env.yaml\nentry_points:"),
        {"python_env.yaml": f'python: "{py}"\ndependencies: [six==1.16.0]\n'},
    )
    argv = [sys.executable, "-X", "importtime", "-m", "mlrun_cli", "run", str(project)]
    argv += ["--env-manager", "uv"]
    subprocess.run(argv, capture_output=True, check=True, timeout=300)  # builds the env
    from mlrun_cli.envs import bytecode
    from mlrun_cli.paths import tool_path

    (env_dir,) = (p for p in tool_path("envs").iterdir() if not p.name.startswith("."))
    assert bytecode.wait(env_dir, timeout=120)  # the warm path: bytecode complete
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    assert "alpha 0.5" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    heavy = ("click", "dataclasses", "inspect", "rich", "yaml", "jsonschema", "_hashlib")
    # Nor what only a build needs: the build log, the progress, the installers' steps.
    heavy += ("typing", "mlrun_cli.envs.buildlog", "mlrun_cli.envs.progress")
    heavy += ("mlrun_cli.envs.installers.steps",)
    assert sorted(imported & set(heavy)) == []
