from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlrun_cli.envs.conda import (
    CondaManager,
    create_command,
    env_file_for,
    find_conda,
    pip_command,
)
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project

ENTRY = "entry_points: {main: {command: 'true'}}\n"


def test_conda_commands(tmp_path: Path) -> None:
    assert create_command("/opt/conda/bin/conda", tmp_path / "e", tmp_path / "c.yaml") == [
        "/opt/conda/bin/conda",
        "env",
        "create",
        "--quiet",
        "--prefix",
        str(tmp_path / "e"),
        "--file",
        str(tmp_path / "c.yaml"),
    ]
    assert create_command("/usr/bin/micromamba", tmp_path / "e", tmp_path / "c.yaml") == [
        "/usr/bin/micromamba",
        "create",
        "--yes",
        "--prefix",
        str(tmp_path / "e"),
        "--file",
        str(tmp_path / "c.yaml"),
    ]
    assert pip_command(tmp_path / "e", tmp_path / "r.txt")[-2:] == ["-r", str(tmp_path / "r.txt")]


def test_conda_exe_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "micromamba"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("MLRUN_CONDA_EXE", raising=False)
    assert find_conda() == str(fake)
    monkeypatch.setenv("MLRUN_CONDA_EXE", "nope-conda")
    with pytest.raises(EnvError, match="MLRUN_CONDA_EXE=nope-conda is not an executable"):
        find_conda()
    monkeypatch.delenv("MLRUN_CONDA_EXE")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EnvError, match="no conda, mamba or micromamba found"):
        find_conda()


def test_env_file_from_a_conda_yaml_is_the_file_itself(tmp_path: Path) -> None:
    text = "dependencies:\n  - python\n  - pip\n"
    root = write_project(tmp_path / "p", "conda_env: conda.yaml\n" + ENTRY, {"conda.yaml": text})
    path, content = env_file_for(load_project(root), tmp_path / "prefix")
    assert (path, content) == (root / "conda.yaml", text.encode())


def test_env_file_made_from_a_python_env(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        ENTRY,
        {
            "python_env.yaml": (
                'python: "3.11"\nbuild_dependencies: [setuptools]\ndependencies: [six]\n'
            )
        },
    )
    path, content = env_file_for(load_project(root), tmp_path / "prefix")
    assert path == tmp_path / "prefix" / "mlrun-conda.yaml"
    assert yaml.safe_load(content) == {
        "name": "mlrun",
        "dependencies": ["python=3.11", "pip", {"pip": ["setuptools", "six"]}],
    }


def test_env_file_for_a_project_without_environment(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", ENTRY)
    with pytest.raises(EnvError, match=r"declares no conda or python environment"):
        env_file_for(load_project(root), tmp_path / "prefix")


def test_missing_conda_is_reported_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p", "conda_env: conda.yaml\n" + ENTRY, {"conda.yaml": "dependencies: []\n"}
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("MLRUN_CONDA_EXE", raising=False)
    with pytest.raises(EnvError, match="no conda, mamba or micromamba found"):
        CondaManager().prepare(load_project(root))
    assert not (tmp_path / "envs").exists()


def test_conda_env_builds_where_conda_exists(tmp_path: Path) -> None:
    try:
        find_conda()
    except EnvError as exc:
        pytest.skip(f"needs a conda binary: {exc}")

    (tmp_path / "MLproject").write_text("conda_env: conda.yaml\n" + ENTRY)
    (tmp_path / "conda.yaml").write_text("dependencies:\n  - python\n  - pip\n")
    env = CondaManager().prepare(load_project(tmp_path))
    assert env.python is not None and Path(env.python).exists()
