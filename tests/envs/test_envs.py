from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.envs import cache
from mlrun_cli.envs.conda import create_command, find_conda, pip_command
from mlrun_cli.envs.interpreters import find, matches
from mlrun_cli.envs.spec import load_conda_as_python_env, load_python_env
from mlrun_cli.errors import EnvError


def test_key_covers_every_input() -> None:
    base = {"python": "3.11.7", "dependencies": ["a"], "files": {"/r.txt": "x"}}
    key = cache.make_key("uv", base)
    assert key.name.startswith("uv-") and len(key.name) == 3 + 16
    assert cache.make_key("uv", dict(base)).digest == key.digest
    for change in ({"python": "3.11.8"}, {"dependencies": ["b"]}, {"files": {"/r.txt": "y"}}):
        assert cache.make_key("uv", {**base, **change}).digest != key.digest
    assert cache.make_key("virtualenv", base).digest != key.digest


def test_describe_change_is_tox_like() -> None:
    before = {"python": "3.11.7", "dependencies": ["a", "b"], "files": {"/x/req.txt": "1"}}
    after = {"python": "3.12.1", "dependencies": ["b", "c"], "files": {"/x/req.txt": "2"}}
    assert cache.describe_change(before, after) == (
        "dependencies: +c -a; req.txt changed; python: 3.11.7 -> 3.12.1"
    )


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


def test_version_matching() -> None:
    assert matches("3.11.7", "3.11") and matches("3.11.7", "3.11.7") and matches("3.11.7", "3")
    assert not matches("3.11.7", "3.1") and not matches("3.11.7", "3.11.8")


def test_find_current_interpreter_without_subprocess() -> None:
    import sys

    assert find("{}.{}".format(*sys.version_info[:2])).version.startswith("3.")
    with pytest.raises(EnvError, match=r"is not of the form 3\.11"):
        find("latest")


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


def test_conda_env_builds_where_conda_exists(tmp_path: Path) -> None:
    try:
        find_conda()
    except EnvError as exc:
        pytest.skip(f"needs a conda binary: {exc}")
    from mlrun_cli.envs.conda import CondaManager
    from mlrun_cli.project.mlproject import load_project

    (tmp_path / "MLproject").write_text(
        "conda_env: conda.yaml\nentry_points: {main: {command: 'true'}}\n"
    )
    (tmp_path / "conda.yaml").write_text("dependencies:\n  - python\n  - pip\n")
    env = CondaManager().prepare(load_project(tmp_path))
    assert env.python is not None and Path(env.python).exists()
