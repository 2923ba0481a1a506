from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.envs.spec import (
    PythonEnvSpec,
    load_conda_as_python_env,
    load_python_env,
    requirement_lines,
)
from mlrun_cli.errors import EnvError


def test_requirement_files_are_hashed_recursively(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text(
        'python: "3.11"\ndependencies: ["-r reqs/a.txt", "six"]\n'
    )
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "a.txt").write_text("-c c.txt\nrequests\n")
    (tmp_path / "reqs" / "c.txt").write_text("urllib3<3\n")
    spec = load_python_env(tmp_path / "python_env.yaml", tmp_path)
    assert spec.python == "3.11"
    assert spec.dependencies == (f"-r {tmp_path / 'reqs' / 'a.txt'}", "six")
    assert [Path(p).name for p, _ in spec.files] == ["a.txt", "c.txt"]
    assert requirement_lines(spec) == list(spec.dependencies)


def test_a_changed_requirement_file_changes_the_spec(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text("dependencies: ['--requirement=r.txt']\n")
    (tmp_path / "r.txt").write_text("six==1.16.0\n")
    before = load_python_env(tmp_path / "python_env.yaml", tmp_path)
    (tmp_path / "r.txt").write_text("six==1.15.0\n")
    after = load_python_env(tmp_path / "python_env.yaml", tmp_path)
    assert before.dependencies == after.dependencies == (f"--requirement {tmp_path / 'r.txt'}",)
    assert before.files != after.files


def test_missing_requirement_file(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text("dependencies: ['-r nope.txt']\n")
    with pytest.raises(EnvError, match=r"references .*nope\.txt, which cannot be read"):
        load_python_env(tmp_path / "python_env.yaml", tmp_path)


def test_python_env_schema_errors(tmp_path: Path) -> None:
    (tmp_path / "python_env.yaml").write_text("python: 3.10\nextra: 1\n")
    with pytest.raises(EnvError, match=r"python_env.yaml: .*\(line \d\)"):
        load_python_env(tmp_path / "python_env.yaml", tmp_path)


def test_conda_yaml_as_python_env(tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text(
        "dependencies:\n  - python=3.10.4\n  - pip=23.1\n  - numpy\n  - pip:\n    - six\n"
    )
    spec = load_conda_as_python_env(tmp_path / "conda.yaml", tmp_path)
    assert (spec.python, spec.dependencies, spec.conda_only) == ("3.10.4", ("six",), ("numpy",))
    assert spec.build_dependencies == ("pip==23.1",)


def test_conda_yaml_with_an_unexpected_entry(tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text("dependencies:\n  - 3\n")
    with pytest.raises(EnvError, match=r"dependencies: unexpected entry 3; fix the conda file"):
        load_conda_as_python_env(tmp_path / "conda.yaml", tmp_path)


def test_conda_only_packages_do_not_change_equality() -> None:
    assert PythonEnvSpec("3.11", conda_only=("numpy",)) == PythonEnvSpec("3.11")
