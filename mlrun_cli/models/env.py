"""The environment a model runs in, built through the environment cache from the files
MLflow saves beside it: ``python_env.yaml``, else ``requirements.txt``, else ``conda.yaml``
(``conda.yaml`` first with ``--env-manager conda``), as MLflow's own virtualenv manager
chooses.

A folder with ``requirements.txt`` and no ``python_env.yaml`` gets the python_env MLflow
makes for it in memory: the interpreter version its ``MLmodel`` names (else its
``conda.yaml``'s, else the one running mlrun) and the file's requirement lines. That
python_env is kept in the cache by its content (``model-envs/python_env-<digest>.yaml``), so
models with the same requirements share one environment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.envs import Environment, default_manager, get_manager
from mlrun_cli.errors import EnvError, MlrunError
from mlrun_cli.paths import tool_path
from mlrun_cli.project.mlproject import EnvSpec, Project

ENV_FILES = ("python_env.yaml", "requirements.txt", "conda.yaml")


def model_project(model_dir: Path, manager: str | None = None) -> Project:
    """The model folder seen as a project whose environment is the model's."""
    python_env, requirements, conda = (model_dir / f for f in ENV_FILES)
    if manager == "conda" and conda.is_file():
        env = EnvSpec("conda_env", conda, implicit=True)
    elif python_env.is_file():
        env = EnvSpec("python_env", python_env, implicit=True)
    elif requirements.is_file():
        env = EnvSpec("python_env", requirements_env(model_dir), implicit=True)
        console.detail(f"{model_dir}: no python_env.yaml; the environment is its requirements.txt")
    elif conda.is_file():
        env = EnvSpec("conda_env", conda, implicit=True)
    else:
        env = EnvSpec("none")
    return Project(dir=model_dir, file=None, name=None, env=env, entry_points={})


def model_python(model_dir: Path) -> str | None:
    """The interpreter version the model was saved with: its MLmodel's python_function
    ``python_version``, else the python of its conda.yaml (None if neither says)."""
    from mlrun_cli.project.validation import read_yaml

    try:
        doc = read_yaml(model_dir / "MLmodel", MlrunError, "")
    except MlrunError:
        doc = None
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    version = pyfunc.get("python_version") if isinstance(pyfunc, dict) else None
    if isinstance(version, str) and version.strip():
        return version.strip()
    if (model_dir / "conda.yaml").is_file():
        from mlrun_cli.envs.spec import load_conda_as_python_env

        try:
            return load_conda_as_python_env(model_dir / "conda.yaml", model_dir).python
        except EnvError:
            return None
    return None


def requirements_env(model_dir: Path) -> Path:
    """The python_env.yaml standing for the model's requirements.txt (written once)."""
    import yaml

    from mlrun_cli.digest import sha256

    requirements = model_dir / "requirements.txt"
    try:
        text = requirements.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvError(f"{requirements}: cannot be read ({exc}); fix or remove it") from None
    # Comments and blank lines do not change what is installed; file references (-r, -c)
    # and relative paths stay as written: they are read against the model's folder.
    lines = [ln.split(" #")[0].strip() for ln in text.splitlines()]
    doc: dict[str, object] = {}
    python = model_python(model_dir)
    if python is not None:
        doc["python"] = python
    doc["dependencies"] = [ln for ln in lines if ln and not ln.startswith("#")]
    content = yaml.safe_dump(doc, sort_keys=False)
    digest = sha256(content.encode()).hexdigest()[:16]
    path = tool_path("cache") / "model-envs" / f"python_env-{digest}.yaml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return path


def model_env(model_dir: Path, manager: str | None) -> tuple[Environment, str]:
    """The model's environment (built or reused) and the interpreter to run in it.

    `local` is the caller's environment as it is: `python` first on PATH."""
    if manager == "local":
        project = Project(dir=model_dir, file=None, name=None, env=EnvSpec("none"), entry_points={})
    else:
        project = model_project(model_dir, manager)
    name = manager or default_manager(project)
    if name != "local" and project.env.kind == "none":
        raise EnvError(
            f"{model_dir} has no python_env.yaml, requirements.txt or conda.yaml to build an "
            "environment from; use --env-manager local"
        )
    env = get_manager(name).prepare(project)
    if env.bin_dir is not None:
        return env, str(env.bin_dir / "python")
    python = env.python or shutil.which("python") or shutil.which("python3")
    if python is None:
        raise EnvError("no python on PATH for --env-manager local; put one there")
    return env, python
