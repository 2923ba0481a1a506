"""What a run is asked to do (`RunRequest`) and everything resolved before it starts (`Plan`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mlrun_cli.envs import default_manager, get_manager
from mlrun_cli.errors import SourceError
from mlrun_cli.project.mlproject import DEFAULT_ENTRY_POINT, EntryPoint, Project, load_project
from mlrun_cli.project.params import ResolvedParams, render_command, resolve
from mlrun_cli.sources.resolve import Source, apply_patch, resolve_source
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any


@valueclass
class RunRequest:
    uri: str
    entry_point: str = DEFAULT_ENTRY_POINT
    params: Mapping[str, str] = field(default_factory=dict)
    experiment_name: str | None = None
    experiment_id: str | None = None
    run_name: str | None = None
    env_manager: str | None = None
    tracking_uri: str | None = None
    json: bool = False
    frozen_requirements: Path | None = None  # exact pins to install instead (rerun)
    version: str | None = None  # branch, tag or commit of a git source
    require_clean: bool = False
    patch: bytes | None = None  # uncommitted changes to re-apply on the checkout (rerun)
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    capture_metrics: bool = False
    capture_pattern: str | None = None
    mlflow_endpoint: bool = True  # serve a loopback MLflow endpoint (embedded store only)
    adopt_run_id: str | None = None  # execute this already-created run (a sweep's trial)
    build_image: bool = False  # docker_env: run a derived image with the project copied in
    docker_args: tuple[str, ...] = ()  # docker_env: extra `docker run` options (--docker-args)
    docker_image_id: str | None = None  # docker_env: the exact image to run (rerun)

    @property
    def captures(self) -> bool:
        return self.capture_metrics or bool(self.capture_pattern)


@valueclass
class Plan:
    """Everything resolved before anything runs (what --dry-run prints).

    A plan owns its source's checkout: use it as a context manager (or call `close`) so a
    checkout made for a git URL is removed however the run ends.
    """

    source: Source
    project: Project
    entry: EntryPoint
    params: ResolvedParams
    command: str
    env_manager: str
    given: Mapping[str, str] = field(default_factory=dict)  # what the user passed (paths resolved)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_dir": str(self.project.dir),
            "entry_point": self.entry.name,
            "params": self.params.all,
            "command": self.command,
            "env_manager": self.env_manager,
        }

    def recorded_params(self) -> dict[str, str]:
        """The parameters as the run records them (see `recorded_params`)."""
        return recorded_params(self.entry, self.params, self.given, self.project.dir)

    def close(self) -> None:
        self.source.cleanup()

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recorded_params(
    entry: EntryPoint, params: ResolvedParams, given: Mapping[str, str], project_dir: Path
) -> dict[str, str]:
    """`params` as a run records them: a path parameter left at its default is recorded
    relative to the project (as declared), not as the absolute path the command is given.

    That path names the project's directory, which for a git URL or a rerun is a checkout
    removed when the run ends: recorded, it would differ between a run and its rerun.
    """
    out = params.all
    for name, param in entry.parameters.items():
        if name in given or param.type.strip().lower() != "path" or name not in out:
            continue
        value = Path(out[name])
        if value.is_relative_to(project_dir):  # else outside the project, or a URI: as it is
            out[name] = value.relative_to(project_dir).as_posix()
    return out


def plan(req: RunRequest) -> Plan:
    """Resolve source, project, entry point, parameters, command and env manager.

    A checkout made for the source is removed again if planning fails; otherwise the caller
    owns it (the plan is a context manager).
    """
    source = resolve_source(req.uri, req.version)
    try:
        return _plan(req, source)
    except BaseException:
        source.cleanup()
        raise


def _plan(req: RunRequest, source: Source) -> Plan:
    if req.capture_pattern:
        from mlrun_cli.run.capture import MetricCapture

        MetricCapture(req.capture_pattern)  # a bad pattern is bad input: fail before recording
    if req.patch:
        source = apply_patch(source, req.patch)
    if req.require_clean and source.git is not None and source.git.dirty:
        raise SourceError(
            f"{source.git.root or source.dir} has uncommitted changes to tracked files and "
            "--require-clean was given; commit or stash them"
        )
    project = load_project(source.dir)
    entry = project.entry_point(req.entry_point)
    params = resolve(entry, req.params, project_dir=project.dir)
    _warn_close_names(entry, params.extra)
    command = render_command(entry, params)
    from mlrun_cli.config import configured

    manager = req.env_manager or configured("env_manager") or default_manager(project)
    if project.env.kind == "docker_env" or manager == "docker" or req.build_image:
        from mlrun_cli.containers.plan import container_manager

        manager = container_manager(
            project, req.env_manager, req.build_image, req.docker_args, req.docker_image_id
        )
    get_manager(manager)  # an unknown name fails here, before anything is recorded
    given = {
        k: params.declared.get(k, v)
        if k in entry.parameters and entry.parameters[k].type.strip().lower() == "path"
        else v
        for k, v in req.params.items()
    }
    return Plan(source, project, entry, params, command, manager, given)


def _warn_close_names(entry: EntryPoint, extra: Mapping[str, str]) -> None:
    """An undeclared parameter is appended as --name value (as MLflow does); one whose name is
    close to a declared one is most likely a typo: say so, once, before anything runs."""
    if not extra or not entry.parameters:
        return
    import difflib

    from mlrun_cli import console

    declared = list(entry.parameters)
    for name in extra:
        by_case = [d for d in declared if d.lower() == name.lower()]
        close = by_case or difflib.get_close_matches(name, declared, n=1, cutoff=0.75)
        if close:
            console.warn(
                f"-P {name}=... is not a parameter of entry point {entry.name!r} and is passed "
                f"as --{name}; did you mean -P {close[0]}=...?"
            )
