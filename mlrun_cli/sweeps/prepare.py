"""Check a sweep request and expand its trials, typed and rendered; nothing is recorded.

What `prepare` returns is what `mlrun sweep --dry-run` prints and what `start` records: the
spec (sources, method, each trial's parameters) and its hash, which says whether two sweeps
are the same one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from mlrun_cli.errors import ParameterError
from mlrun_cli.redact import redact
from mlrun_cli.sweeps.plan import SweepPlan, domains_of, expand, read_rows, spec_hash
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.values import valueclass


@valueclass
class Prepared:
    """A checked sweep: its project, trials and spec, before anything is recorded."""

    project: Any  # project.Project
    entry: Any  # project.EntryPoint
    env_manager: str
    sweep: SweepPlan
    resolved: list[dict[str, str]]  # each trial's given parameters, checked and paths resolved
    commands: list[str]
    spec: dict[str, Any]
    hash: str


def _git_fields(git: Any) -> dict[str, str | None]:
    """The commit and the digest of the uncommitted patch: what says the sources changed."""
    return {
        "commit": git.commit if git else None,
        "patch_sha": hashlib.sha256(git.patch).hexdigest() if git and git.patch else None,
    }


def _check_options(req: SweepRequest) -> None:
    if req.jobs < 1:
        raise ParameterError("-j/--jobs must be 1 or more (or auto)")
    if req.method == "tpe":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ParameterError(
                "--method tpe needs optuna: pip install 'mlrun-cli[optuna]'"
            ) from None


def _check_names(project: Any, entry: Any, names: set[str]) -> None:
    """Every swept parameter is one the entry point declares (when it declares any)."""
    unknown = sorted(n for n in names if entry.declared and n not in entry.parameters)
    if unknown:
        where = project.file.name if project.file else str(project.dir)
        raise ParameterError(
            f"{where}: entry point {entry.name!r} has no parameter {unknown[0]!r} "
            f"(declared: {', '.join(entry.parameters) or 'none'}); check the name"
        )


def _spec(
    req: SweepRequest,
    git: Any,
    entry: Any,
    manager: str,
    sweep: SweepPlan,
    resolved: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    return {
        "uri": redact(req.uri),  # credentials are never recorded
        "version": req.version,
        **_git_fields(git),
        "entry_point": entry.name,
        "env_manager": manager,
        "params": dict(req.params),
        "literal": list(req.literal),
        "method": sweep.method,
        "seed": sweep.seed,
        "count": sweep.count,
        "trials": list(resolved),
        "varying": list(sweep.varying),
        "metric": req.metric,
        "goal": req.goal,
    }


def prepare(req: SweepRequest) -> Prepared:
    """Check everything, expand the trials and type their values; nothing is recorded."""
    from mlrun_cli.envs import default_manager, get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.project.params import render_command, resolve
    from mlrun_cli.sources.resolve import resolve_source

    _check_options(req)
    rows = read_rows(req.file) if req.file else None
    domains = domains_of(req.params, req.literal)
    sweep = expand(domains, method=req.method, trials=req.trials, seed=req.seed, rows=rows)
    source = resolve_source(req.uri, req.version)
    try:
        project = load_project(source.dir)
        entry = project.entry_point(req.entry_point)
        _check_names(
            project, entry, {d.name for d in domains} | {k for row in rows or [] for k in row}
        )
        from mlrun_cli.config import configured

        manager = req.env_manager or configured("env_manager") or default_manager(project)
        get_manager(manager)
        resolved, commands = [], []
        for trial in sweep.trials:
            r = resolve(entry, trial, project_dir=project.dir)
            resolved.append({k: r.all[k] for k in trial})
            commands.append(render_command(entry, r))
        git = source.git
    finally:
        source.cleanup()
    spec = _spec(req, git, entry, manager, sweep, resolved)
    return Prepared(project, entry, manager, sweep, resolved, commands, spec, spec_hash(spec))


def trial_source(spec: Mapping[str, Any]) -> tuple[str, str | None]:
    """The URI and version a trial checks out: a remote source at the commit the sweep was
    planned on, so a trial needs neither the network nor credentials (the sweep's URI is
    recorded without them; its clone cache has the commit)."""
    from mlrun_cli.sources.resolve import is_remote

    version = spec.get("version")
    if is_remote(str(spec["uri"]).partition("#")[0]) and spec.get("commit"):
        version = str(spec["commit"])
    return str(spec["uri"]), version


def current_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`spec` with the commit and patch of its sources as they are now (to compare on resume)."""
    from mlrun_cli.sources.resolve import resolve_source

    source = resolve_source(spec["uri"], spec.get("version"))
    try:
        return {**spec, **_git_fields(source.git)}
    finally:
        source.cleanup()
