from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlrun_cli.project.validation import load_schema, schema_dir
from tests.conftest import REPO


def test_schemas_load_as_the_cli_loads_them() -> None:
    for name in ("mlproject", "python_env"):
        schema = load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert json.loads((schema_dir() / f"{name}.schema.json").read_text()) == schema


def test_schemas_are_valid_2020_12() -> None:
    import jsonschema

    for name in ("mlproject", "python_env"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_validation_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that validated once does not import jsonschema (or PyYAML) again."""
    from mlrun_cli.errors import ProjectError
    from mlrun_cli.project import validation

    env_file = tmp_path / "python_env.yaml"
    env_file.write_text('python: "3.11"\n')
    assert validation.load_validated("python_env", env_file, ProjectError) == {"python": "3.11"}
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # importing it now would fail
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert validation.load_validated("python_env", env_file, ProjectError) == {"python": "3.11"}


@pytest.mark.slow
def test_wheel_ships_the_schemas(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
    )
    if (
        proc.returncode != 0
        and "hatchling" in proc.stderr
        and "No matching distribution" in proc.stderr
    ):
        pytest.skip("hatchling cannot be installed here: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("mlrun_cli-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("mlproject", "python_env"):
        assert f"mlrun_cli/schemas/{name}.schema.json" in names
        packaged = zipfile.ZipFile(wheel).read(f"mlrun_cli/schemas/{name}.schema.json")
        assert json.loads(packaged) == load_schema(name)
