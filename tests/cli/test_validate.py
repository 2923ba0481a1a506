"""`mlrun validate` agrees with `mlrun run`: what run refuses is an error (exit 2), what MLflow
accepts but is most likely a mistake is a warning with a suggestion; `--json` is always JSON
with a schema, errors included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import write_project


def mlrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args], capture_output=True, text=True, timeout=60
    )


def as_json(root: Path) -> tuple[int, dict[str, Any]]:
    proc = mlrun("validate", str(root), "--json")
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["schema"] == "mlrun.validate/1"
    return proc.returncode, data


def project(tmp_path: Path, params: str, command: str, head: str = "name: v\n") -> Path:
    return write_project(
        tmp_path / "p",
        f'{head}entry_points:\n  main:\n    parameters:\n{params}    command: "{command}"\n',
        {"t.py": "import sys; print(sys.argv[1:])\n"},
    )


def test_a_placeholder_naming_no_parameter_is_an_error_as_in_run(
    tmp_path: Path, isolated: Path
) -> None:
    root = project(
        tmp_path, "      alpha: {type: float, default: 0.1}\n", "python t.py {alpha} {beta} {alpah}"
    )
    message = (
        "entry point 'main': command uses {alpah}, which is not a declared parameter (declared: "
        "alpha); did you mean {alpha}? or declare it under parameters or escape the braces as {{ }}"
    )
    proc = mlrun("validate", str(root))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"error: MLproject: {message}\n"
        "error: MLproject: entry point 'main': command uses {beta}, which is not a declared "
        "parameter (declared: alpha); declare it under parameters or escape the braces as {{ }}\n"
    )
    code, data = as_json(root)
    assert code == 2 and data["valid"] is False and len(data["errors"]) == 2
    run = mlrun("run", str(root), "--env-manager", "local")
    assert run.returncode == 2 and "which is not a declared parameter" in run.stderr
    assert not (isolated / ".mlrun").exists()


def test_a_misspelled_default_is_a_warning_with_the_right_key(tmp_path: Path) -> None:
    root = project(tmp_path, "      alpha: {type: float, defualt: 0.1}\n", "python t.py {alpha}")
    proc = mlrun("validate", str(root))
    assert proc.returncode == 0
    warning = (
        "MLproject: entry point 'main': parameter alpha: unknown key 'defualt' (MLflow ignores "
        "it, so alpha has no default and is required); did you mean 'default'?"
    )
    assert proc.stderr == f"warning: {warning}\n"
    assert proc.stdout == (
        f"{root / 'MLproject'}: valid\n"
        "name: v\n"
        "environment: none (runs in the current environment)\n"
        "entry point  parameter  type   default  required\n"
        "main         alpha      float           yes\n"
    )
    code, data = as_json(root)
    assert (code, data["valid"], data["warnings"], data["errors"]) == (0, True, [warning], [])
    # What the warning says is what run does: alpha is required.
    run = mlrun("run", str(root), "--env-manager", "local")
    assert run.returncode == 2 and "missing required parameter alpha" in run.stderr


def test_other_likely_mistakes_are_warned_about(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "      alpha: {type: text, default: a, help: the rate}\n",
        "python t.py {alpha}",
        head="name: v\nentry_point: {}\n",
    )
    proc = mlrun("validate", str(root))
    assert proc.returncode == 0
    assert proc.stderr == (
        "warning: MLproject: unknown key 'entry_point'; did you mean 'entry_points'? (MLflow "
        "ignores it)\n"
        "warning: MLproject: entry point 'main': parameter alpha: unknown key 'help' (MLflow "
        "ignores it)\n"
        "warning: MLproject: entry point 'main': parameter alpha: type 'text' is not one mlrun "
        "checks (string, float, int, bool, path, uri); its values are passed on as strings, as "
        "MLflow does\n"
    )


def test_a_misspelled_type_is_refused_by_validate_and_run_alike(
    tmp_path: Path, isolated: Path
) -> None:
    root = project(tmp_path, "      alpha: {type: flaot, default: 0.1}\n", "python t.py {alpha}")
    message = (
        "MLproject: entry point 'main': parameter alpha: unknown type 'flaot'; did you mean "
        "'float'? (types: string, float, int, bool, path, uri)"
    )
    for args in (["validate", str(root)], ["run", str(root), "--env-manager", "local"]):
        proc = mlrun(*args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"error: {message}\n")
    code, data = as_json(root)
    assert (code, data) == (
        2,
        {"schema": "mlrun.validate/1", "valid": False, "errors": [message], "warnings": []},
    )
    assert not (isolated / ".mlrun").exists()


def test_a_file_refused_while_loading_is_json_under_json(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "entry_points: [1, 2\n")
    code, data = as_json(root)
    assert code == 2 and data["valid"] is False and data["warnings"] == []
    assert len(data["errors"]) == 1 and data["errors"][0].startswith(f"{root / 'MLproject'}:")


def test_a_directory_without_mlproject_says_what_run_does(tmp_path: Path, isolated: Path) -> None:
    root = tmp_path / "scripts"
    root.mkdir()
    (root / "train.py").write_text("print('trained')\n")
    (root / "prep.sh").write_text("echo prepared\n")
    proc = mlrun("validate", str(root))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == (
        f"{root}: no MLproject file; mlrun run runs one of its scripts with -e\n"
        "scripts: prep.sh, train.py\n"
        "environment: none (runs in the current environment)\n"
        "without -e, mlrun run refuses it (no entry point main); e.g. -e prep.sh\n"
    )
    code, data = as_json(root)
    assert (code, data["valid"], data["file"], data["scripts"]) == (
        0, True, None, ["prep.sh", "train.py"],
    )  # fmt: skip
    refused = mlrun("run", str(root), "--env-manager", "local")
    assert refused.returncode == 2 and "unknown entry point 'main'" in refused.stderr
    ran = mlrun("run", str(root), "-e", "train.py", "--env-manager", "local")
    assert ran.returncode == 0 and ran.stdout == "trained\n", ran.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = mlrun("validate", str(empty))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: {empty}: no MLproject file and no .py or .sh file; mlrun run has nothing to "
        "run here\n",
    )
    assert as_json(empty)[1]["valid"] is False


def test_docker_env_is_reported_with_its_image(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        "name: d\ndocker_env:\n  image: python:3.11-slim\nentry_points:\n  main:\n"
        "    command: \"python -c 'print(1)'\"\n",
    )
    proc = mlrun("validate", str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        f"{root / 'MLproject'}: valid",
        "name: d",
        "environment: docker_env image python:3.11-slim (runs in docker; --env-manager local "
        "runs it here)",
    ]
    code, data = as_json(root)
    assert code == 0 and data["environment"]["image"] == "python:3.11-slim"
    assert data["environment"]["runs_in"] == "docker"
