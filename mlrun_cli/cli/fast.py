"""`mlrun run` parsed without click, for the plain forms only.

`parse_run` accepts exactly the arguments it fully understands: global -q/-v, then `run`,
at most one URI, and the run options below, as ``--opt value``, ``--opt=value`` or ``-evalue``.
Anything else (help, cluster backends, --dry-run, two experiment options, an unknown or
malformed option, a choice that is not one) returns None, and the click command parses the
arguments instead, with its own messages. Both paths build the same `RunRequest` and call
the same `cli.perform.perform_run`; a test holds this table to the click command's options.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

# option -> its parameter name in the click command (`cli.run.run`)
VALUED = {
    "-e": "entry_point",
    "--entry-point": "entry_point",
    "-P": "params",
    "--param": "params",
    "--experiment-name": "experiment_name",
    "--experiment-id": "experiment_id",
    "--run-name": "run_name",
    "--env-manager": "env_manager",
    "--version": "version",
    "--capture-pattern": "capture_pattern",
    "--tracking-uri": "tracking_uri",
    "--backend": "backend",
}
FLAGS = {
    "--require-clean": "require_clean",
    "--capture-metrics": "capture_metrics",
    "--no-mlflow-endpoint": "no_mlflow_endpoint",
    "--json": "as_json",
}
# Options of `mlrun run` always left to click.
CLICK_ONLY: tuple[str, ...] = ("--dry-run", "--detach", "--backend-config", "-h", "--help")
CLICK_ONLY += ("--build-image", "--docker-args", "-A")  # a run in docker: start-up is docker's
GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}
SHORT = ("-e", "-P")


def parse_run(argv: Sequence[str]) -> dict[str, Any] | None:
    """The run's arguments by parameter name, or None to let click parse `argv`."""
    args: dict[str, Any] = {"quiet": False, "verbose": False, "params": []}
    i = 0
    while i < len(argv) and argv[i] in GLOBAL_FLAGS:
        args[GLOBAL_FLAGS[argv[i]]] = True
        i += 1
    if i >= len(argv) or argv[i] != "run":
        return None
    i += 1
    uri: str | None = None
    while i < len(argv):
        token = argv[i]
        i += 1
        name, value, inline = token, None, False
        if token.startswith("--") and "=" in token:
            name, value = token.split("=", 1)
            inline = True
        elif token[:2] in SHORT and len(token) > 2:
            name, value, inline = token[:2], token[2:], True
        if name in FLAGS and not inline:
            args[FLAGS[name]] = True
        elif name in GLOBAL_FLAGS and not inline:
            args[GLOBAL_FLAGS[name]] = True  # `mlrun run . -q` is `mlrun -q run .`
        elif name in VALUED:
            if not inline:
                if i >= len(argv):
                    return None
                value = argv[i]
                i += 1
            if VALUED[name] == "params":
                args["params"].append(value)
            else:
                args[VALUED[name]] = value
        elif token.startswith("-") or uri is not None:
            return None  # an option click must judge, or a second argument
        else:
            uri = token
    args["uri"] = uri if uri is not None else "."
    return args if _plain(args) else None


def _plain(args: dict[str, Any]) -> bool:
    """Only what needs no judgement click would make: a local run, valid choices."""
    if args.get("backend", "local") != "local":
        return False
    if args.get("experiment_name") and args.get("experiment_id"):
        return False
    manager = args.get("env_manager")
    if manager is not None:
        from mlrun_cli.envs import manager_names

        if manager not in manager_names():
            return False
    return True


def run_fast(args: dict[str, Any]) -> int:
    """Perform the parsed run; the exit code (the command's, or the error edge's)."""
    from mlrun_cli import console
    from mlrun_cli.cli.edge import report

    console.configure(quiet=args["quiet"], verbose=args["verbose"])
    try:
        from mlrun_cli.cli.perform import perform_run, run_request

        req = run_request(
            uri=args["uri"],
            entry_point=args.get("entry_point") or "main",
            params=args["params"],
            experiment_name=args.get("experiment_name"),
            experiment_id=args.get("experiment_id"),
            run_name=args.get("run_name"),
            env_manager=args.get("env_manager"),
            tracking_uri=args.get("tracking_uri"),
            as_json=args.get("as_json", False),
            version=args.get("version"),
            require_clean=args.get("require_clean", False),
            capture_metrics=args.get("capture_metrics", False),
            capture_pattern=args.get("capture_pattern"),
            no_mlflow_endpoint=args.get("no_mlflow_endpoint", False),
        )
        from mlrun_cli.config import configured

        backend = args.get("backend") or configured("backend") or "local"
        return perform_run(req, as_json=args.get("as_json", False), backend=backend)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        return report(exc, as_json=args.get("as_json", False))
