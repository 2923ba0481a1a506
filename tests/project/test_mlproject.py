from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.errors import ProjectError
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project

BASIC = """
name: demo
entry_points:
  main:
    parameters:
      alpha: float
      l1: {type: float, default: 0.1}
      label: {default: x}
    command: "python train.py {alpha} {l1}"
  other:
    command: echo other
"""


def test_loads_entry_points_and_parameters(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p", BASIC))
    assert project.name == "demo"
    main = project.entry_point("main")
    assert main.command == "python train.py {alpha} {l1}"
    assert [(p.name, p.type, p.default, p.required) for p in main.parameters.values()] == [
        ("alpha", "float", None, True),
        ("l1", "float", 0.1, False),
        ("label", "string", "x", False),
    ]
    assert project.env.kind == "none"


@pytest.mark.parametrize("name", ["MLproject", "mlproject", "MLProject", "MLPROJECT"])
def test_project_file_name_is_case_insensitive(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(BASIC)
    assert load_project(tmp_path).file == tmp_path / name


def test_default_null_is_required(tmp_path: Path) -> None:
    text = "entry_points:\n  main:\n    parameters:\n      a: {type: int, default: null}\n    command: x {a}\n"
    assert (
        load_project(write_project(tmp_path / "p", text))
        .entry_point("main")
        .parameters["a"]
        .required
    )


def test_conventional_python_env_then_conda(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", BASIC, {"python_env.yaml": "python: '3.11'\n", "conda.yaml": "name: x\n"}
    )
    env = load_project(root).env
    assert (env.kind, env.path, env.implicit) == ("python_env", root / "python_env.yaml", True)
    (root / "python_env.yaml").unlink()
    assert load_project(root).env.kind == "conda_env"


def test_declared_env_path_must_exist(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "python_env: missing.yaml\n" + BASIC)
    with pytest.raises(ProjectError, match=r"python_env: missing.yaml does not exist"):
        load_project(root)


def test_more_than_one_env_key_is_an_error(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        "python_env: a.yaml\nconda_env: b.yaml\n" + BASIC,
        {"a.yaml": "", "b.yaml": ""},
    )
    with pytest.raises(ProjectError, match="declares python_env and conda_env; a project has one"):
        load_project(root)


def test_docker_env(tmp_path: Path) -> None:
    text = (
        "docker_env:\n  image: repo/img:1\n  volumes: ['/a:/b']\n"
        "  environment: [NAME, [K, v]]\n" + BASIC
    )
    env = load_project(write_project(tmp_path / "p", text)).env
    assert env.kind == "docker_env"
    assert env.docker is not None
    assert env.docker.image == "repo/img:1"
    assert env.docker.volumes == ("/a:/b",)
    assert env.docker.environment == (("NAME", None), ("K", "v"))


def test_docker_env_without_image_names_key_and_line(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "docker_env:\n  volumes: []\n" + BASIC)
    with pytest.raises(ProjectError) as err:
        load_project(root)
    assert (
        str(err.value)
        == f"{root / 'MLproject'}: docker_env (line 1): 'image' is a required property; add it"
    )


def test_schema_violation_names_key_path_and_line(tmp_path: Path) -> None:
    text = "entry_points:\n  main:\n    parameters:\n      a: {type: 3}\n    command: x\n"
    root = write_project(tmp_path / "p", text)
    with pytest.raises(ProjectError) as err:
        load_project(root)
    assert str(err.value) == (
        f"{root / 'MLproject'}: entry_points.main.parameters.a.type (line 4): 3 is not of type 'string'"
    )


def test_entry_point_without_command(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "entry_points:\n  main:\n    parameters: {}\n")
    with pytest.raises(
        ProjectError, match=r"entry_points.main \(line 2\): 'command' is a required"
    ):
        load_project(root)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "entry_points:\n  main: [unclosed\n")
    with pytest.raises(ProjectError, match=r"MLproject: line \d+, column \d+: YAML syntax error"):
        load_project(root)


def test_unknown_top_level_keys_are_ignored_like_mlflow(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p", "custom_key: 1\n" + BASIC))
    assert set(project.entry_points) == {"main", "other"}


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist; pass the directory of an MLproject"):
        load_project(tmp_path / "nope")


def test_unknown_entry_point_lists_available(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p", BASIC))
    with pytest.raises(ProjectError, match=r"unknown entry point 'x' \(available: main, other\)"):
        project.entry_point("x")


def test_script_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p", BASIC, {"train.py": "", "run me.sh": ""})
    project = load_project(root)
    assert project.entry_point("train.py").command == "python train.py"
    monkeypatch.setenv("SHELL", "/bin/zsh")
    assert project.entry_point("run me.sh").command == "/bin/zsh 'run me.sh'"
    monkeypatch.delenv("SHELL")
    assert project.entry_point("run me.sh").command == "bash 'run me.sh'"


def test_directory_without_mlproject_runs_scripts_only(tmp_path: Path) -> None:
    (tmp_path / "go.py").write_text("")
    project = load_project(tmp_path)
    assert project.file is None
    assert project.entry_point("go.py").command == "python go.py"
    with pytest.raises(ProjectError, match="available: none declared"):
        project.entry_point("main")
