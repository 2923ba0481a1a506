"""A model folder's environment files: python_env.yaml, else requirements.txt (with the
MLmodel's python version), else conda.yaml, as MLflow's virtualenv manager chooses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlrun_cli.envs.virtualenv import project_spec
from mlrun_cli.errors import EnvError
from mlrun_cli.models.env import model_env, model_project

MLMODEL = """\
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.sklearn
    python_version: 3.11.7
mlflow_version: 3.17.2
"""
REQUIREMENTS = "mlflow==3.17.2\n# a comment\n\nscikit-learn==1.9.1  # pinned\n-r extra.txt\n"
CONDA = "name: m\ndependencies:\n- python=3.10.4\n- pip:\n  - mlflow==3.17.2\n"


def model(folder: Path, mlmodel: str = MLMODEL, **files: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(mlmodel)
    for name, text in files.items():
        (folder / name.replace("_yaml", ".yaml").replace("_txt", ".txt")).write_text(text)
    return folder


def test_requirements_alone_make_a_python_env_with_the_mlmodels_python(
    isolated: Path, tmp_path: Path
) -> None:
    folder = model(tmp_path / "m", requirements_txt=REQUIREMENTS, extra_txt="six==1.16.0\n")
    project = model_project(folder)
    assert (project.env.kind, project.dir) == ("python_env", folder)
    assert project.env.path is not None
    assert project.env.path.parent == tmp_path / "cache" / "model-envs"
    assert yaml.safe_load(project.env.path.read_text()) == {
        "python": "3.11.7",
        "dependencies": ["mlflow==3.17.2", "scikit-learn==1.9.1", "-r extra.txt"],
    }
    spec = project_spec(project)  # what the uv and virtualenv managers build from
    assert (spec.python, spec.dependencies) == (
        "3.11.7",
        ("mlflow==3.17.2", "scikit-learn==1.9.1", f"-r {folder / 'extra.txt'}"),
    )
    assert [Path(p).name for p, _ in spec.files] == ["extra.txt"]  # its content is keyed
    # Another folder with the same requirements has the same python_env (one env for both).
    other = model(tmp_path / "copy", requirements_txt=REQUIREMENTS, extra_txt="six==1.16.0\n")
    assert model_project(other).env.path == project.env.path


def test_the_python_version_comes_from_conda_yaml_or_is_the_current_one(
    isolated: Path, tmp_path: Path
) -> None:
    bare = "flavors: {python_function: {loader_module: mlflow.sklearn}}\n"
    with_conda = model(tmp_path / "a", bare, requirements_txt="six\n", conda_yaml=CONDA)
    path = model_project(with_conda).env.path
    assert path is not None
    assert yaml.safe_load(path.read_text()) == {"python": "3.10.4", "dependencies": ["six"]}
    alone = model(tmp_path / "b", bare, requirements_txt="six\n")
    path = model_project(alone).env.path
    assert path is not None
    assert yaml.safe_load(path.read_text()) == {"dependencies": ["six"]}
    assert project_spec(model_project(alone)).python is None  # the interpreter running mlrun


def test_which_file_wins(isolated: Path, tmp_path: Path) -> None:
    every = model(
        tmp_path / "all",
        python_env_yaml="python: 3.11.7\ndependencies: [-r requirements.txt]\n",
        requirements_txt="six\n",
        conda_yaml=CONDA,
    )
    assert model_project(every).env.path == every / "python_env.yaml"
    assert model_project(every, "conda").env.path == every / "conda.yaml"
    no_python_env = model(tmp_path / "two", requirements_txt="six\n", conda_yaml=CONDA)
    assert model_project(no_python_env).env.kind == "python_env"  # requirements.txt
    assert model_project(no_python_env, "conda").env.kind == "conda_env"
    conda_only = model(tmp_path / "conda", conda_yaml=CONDA)
    assert model_project(conda_only).env.kind == "conda_env"


def test_a_folder_with_no_env_file_runs_in_the_current_env(isolated: Path, tmp_path: Path) -> None:
    folder = model(tmp_path / "none")
    with pytest.raises(EnvError) as exc:
        model_env(folder, "uv")
    assert str(exc.value) == (
        f"{folder} has no python_env.yaml, requirements.txt or conda.yaml to build an "
        "environment from; use --env-manager local"
    )
    for manager in (None, "local"):
        env, python = model_env(folder, manager)
        assert (env.manager, env.bin_dir) == ("local", None) and python
    assert not (tmp_path / "cache" / "model-envs").exists()  # local writes nothing
