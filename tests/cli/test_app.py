"""The CLI in-process: exact output, one-line errors with exit 2, nothing recorded on bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import write_project

Cli = Callable[..., Result]

PROJECT = """
name: demo
entry_points:
  main:
    parameters:
      alpha: float
      n: {type: int, default: 3}
      data: {type: path, default: data.csv}
      src: {type: uri, default: "s3://b/k"}
    command: "python train.py {alpha} {n} {data} {src}"
  bad:
    command: "echo {nope}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", PROJECT, {"data.csv": "x", "train.py": ""})


def assert_one_line_error(result: Result, message: str, cwd: Path) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.stderr
    assert not (cwd / ".mlrun").exists(), "a run was recorded for bad input"


def test_validate_text(cli_run: Cli, project: Path) -> None:
    # Entry point bad uses {nope}, which `mlrun run -e bad` refuses: so does validate.
    result = cli_run("validate", str(project))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: MLproject: entry point 'bad': command uses {nope}, which is not a declared "
        "parameter (declared: none); declare it under parameters or escape the braces as {{ }}\n"
    )


def test_validate_json(cli_run: Cli, project: Path) -> None:
    result = cli_run("validate", str(project), "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["schema"] == "mlrun.validate/1"
    assert data["valid"] is False and len(data["errors"]) == 1
    assert data["environment"] == {
        "kind": "none",
        "path": None,
        "image": None,
        "runs_in": None,
        "implicit": False,
    }
    assert data["entry_points"]["main"]["parameters"]["alpha"] == {
        "type": "float",
        "default": None,
        "required": True,
    }


def test_dry_run(cli_run: Cli, project: Path, isolated: Path) -> None:
    result = cli_run("run", str(project), "--dry-run", "-P", "alpha=1e-3")
    assert result.exit_code == 0
    assert result.stdout == f"python train.py 1e-3 3 {project / 'data.csv'} s3://b/k\n"
    assert not (isolated / ".mlrun").exists()


def bad_inputs(project: Path, tmp_path: Path) -> list[tuple[list[str], str]]:
    mlp = project / "MLproject"
    return [
        (
            ["run", str(tmp_path / "missing")],
            f"project directory {tmp_path / 'missing'} does not exist; pass the directory of an MLproject",
        ),
        (
            ["run", str(project), "-e", "nope", "-P", "alpha=1"],
            "MLproject: unknown entry point 'nope' (available: bad, main); pass one with -e, or a .py or .sh file in the project",
        ),
        (
            ["run", str(project)],
            "entry point 'main': missing required parameter alpha; pass -P alpha=...",
        ),
        (
            ["run", str(project), "-P", "alpha"],
            "-P 'alpha': expected NAME=VALUE, e.g. -P alpha=0.5",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "-P", "alpha=2"],
            "-P alpha: given twice; pass each parameter once",
        ),
        (
            ["run", str(project), "-P", "alpha=abc"],
            "parameter alpha: 'abc' is not a valid float; pass -P alpha=<float>",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "-P", "n=1.5"],
            "parameter n: '1.5' is not a valid int; pass -P n=<int>",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "-P", "data=nope.csv"],
            f"parameter data: given path 'nope.csv' does not exist (looked for {Path.cwd() / 'nope.csv'}); pass an existing file or directory",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "-P", "src=local/x"],
            "parameter src: 'local/x' is not a URI (no scheme such as file://, s3://, https://); pass a full URI",
        ),
        (
            ["run", str(project), "-e", "bad"],
            "entry point 'bad': command uses {nope}, which is not a declared parameter (declared: none); declare it under parameters or escape the braces as {{ }}",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "--tracking-uri", "sqlite:///mlflow.db"],
            "tracking URI 'sqlite:///mlflow.db' is an MLflow store; mlrun records into its own store (a directory such as ./.mlrun) or an MLflow server (http://...); pass one of those with --tracking-uri",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "--tracking-uri", "file:./mlruns"],
            "tracking URI 'file:./mlruns' is an MLflow store; mlrun records into its own store (a directory such as ./.mlrun) or an MLflow server (http://...); pass one of those with --tracking-uri",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "--tracking-uri", "s3x://x"],
            "tracking URI 's3x://x': unknown scheme 's3x'; use a store directory (./.mlrun or mlrun:///abs/path)",
        ),
        (
            ["run", str(project), "-P", "alpha=1", "--env-manager", "nope"],
            "Invalid value for '--env-manager': 'nope' is not one of 'local', 'virtualenv', "
            "'uv', 'conda', 'docker'; see 'mlrun run --help'",
        ),
        (
            ["run", str(project), "--experiment-name", "a", "--experiment-id", "1"],
            "pass --experiment-name or --experiment-id, not both; see 'mlrun run --help'",
        ),
        (["runs", "show"], "Missing argument 'RUN_ID'; see 'mlrun runs show --help'"),
        (
            ["validate", str(mlp.parent.parent / "missing")],
            f"project directory {mlp.parent.parent / 'missing'} does not exist; pass the directory of an MLproject",
        ),
    ]


def test_bad_input_is_one_line_exit_2_nothing_recorded(
    cli_run: Cli, project: Path, tmp_path: Path, isolated: Path
) -> None:
    for args, message in bad_inputs(project, tmp_path):
        assert_one_line_error(cli_run(*args), message, isolated)


@pytest.mark.parametrize(
    ("text", "files", "message"),
    [
        (
            "entry_points: [unclosed\n",
            {},
            "{mlp}: line 2, column 1: YAML syntax error: did not find expected ',' or ']'; fix the YAML",
        ),
        (
            "entry_points:\n  main:\n    command: 3\n",
            {},
            "{mlp}: entry_points.main.command (line 3): 3 is not of type 'string'",
        ),
        (
            "python_env: a.yaml\nconda_env: b.yaml\n",
            {"a.yaml": "", "b.yaml": ""},
            "{mlp}: declares python_env and conda_env; a project has one environment, keep one of them",
        ),
        (
            "docker_env: {volumes: []}\n",
            {},
            "{mlp}: docker_env (line 1): 'image' is a required property; add it",
        ),
        (
            "docker_env: {image: x, environment: [MLRUN_TEST_UNSET_VAR]}\n"
            "entry_points: {main: {command: 'true'}}\n",
            {},
            "{mlp}: docker_env.environment copies MLRUN_TEST_UNSET_VAR from the caller's environment, but it is not set; set it before running",
        ),
    ],
)
def test_bad_project_files(
    cli_run: Cli, tmp_path: Path, isolated: Path, text: str, files: dict[str, str], message: str
) -> None:
    root = write_project(tmp_path / "bad", text, files)
    assert_one_line_error(
        cli_run("run", str(root)), message.format(mlp=root / "MLproject"), isolated
    )


def test_mlflow_file_store_directory_is_refused(
    cli_run: Cli, project: Path, tmp_path: Path, isolated: Path
) -> None:
    mlruns = tmp_path / "mlruns"
    (mlruns / "0").mkdir(parents=True)
    (mlruns / "0" / "meta.yaml").write_text("name: Default\n")
    result = cli_run("run", str(project), "-P", "alpha=1", "--tracking-uri", str(mlruns))
    assert_one_line_error(
        result,
        f"tracking URI {str(mlruns)!r} is an MLflow file store (mlruns layout), not an mlrun store; pass another directory",
        isolated,
    )


def test_runs_show_unknown(cli_run: Cli, isolated: Path) -> None:
    result = cli_run("runs", "show", "abc123")
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: no run 'abc123' in {isolated / '.mlrun'}; see 'mlrun runs list'\n"
    )


def test_run_list_and_show(cli_run: Cli, project: Path, isolated: Path) -> None:
    result = cli_run("run", str(project), "-e", "train.py", "--run-name", "r1")
    assert result.exit_code == 0, result.output
    listing = json.loads(cli_run("runs", "list", "--json").stdout)
    assert [r["name"] for r in listing["runs"]] == ["r1"]
    run_id = listing["runs"][0]["run_id"]
    shown = json.loads(cli_run("runs", "show", run_id[:6], "--json").stdout)
    assert shown["run_id"] == run_id
    assert shown["status"] == "FINISHED"
    assert [a["path"] for a in shown["artifacts"]] == ["mlrun-output.log"]
