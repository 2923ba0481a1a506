"""How `mlrun sweep` shows sweeps: the live table of a running sweep, the show/list tables,
the CSV, the summary lines and the dry-run plan. Only data from the core comes in here.

rich is imported only when a live table starts: `mlrun _trial` imports the sweep commands too.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlrun_cli import console, tags
from mlrun_cli.store.base import RUNNING, Run

if TYPE_CHECKING:
    from mlrun_cli.sweeps.prepare import Prepared
    from mlrun_cli.sweeps.scheduler import TrialObserver

LIVE_FINISHED_SHOWN = 15  # the running trials and the most recent ended ones fit on one screen


class LiveTable:
    """On a terminal: one table of the trials (params that vary, status, metric, duration),
    kept at the bottom of the screen as a live region, with the trials' output above it.

    A `TrialObserver` of the local scheduler. The table appears when the first trial starts,
    so the environment build says what it does on plain lines first.
    """

    captures_output = True

    def __init__(self) -> None:
        self.spec: Mapping[str, Any] = {}
        self.total = 0
        self.done = 0
        self.rows: dict[str, Run] = {}
        self.live: Any = None

    def begin(
        self, sweep_id: str, spec: Mapping[str, Any], total: int, done: int, logged: bool
    ) -> None:
        from mlrun_cli.sweeps.summary import report_start

        self.spec, self.total, self.done = spec, total, done
        report_start(sweep_id, total, done, logged)

    def trial_started(self, run: Run) -> None:
        self.rows[run.run_id] = run
        if self.live is None:
            from rich.live import Live

            # Our own messages (warnings, say) go above the table too, never through it.
            self.live = Live(
                self._table(),
                console=console.rich_console(),
                transient=False,
                refresh_per_second=4,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self.live.start()
        else:
            self.live.update(self._table(), refresh=True)

    def trial_output(self, line: bytes) -> None:
        from rich.text import Text

        text = line.rstrip(b"\n").decode("utf-8", "replace")
        # A progress bar's redraws end in one line: what it shows last.
        text = next((part for part in reversed(text.split("\r")) if part), "")
        self.live.console.print(Text.from_ansi(text), soft_wrap=True)

    def trial_ended(self, run: Run, done: int) -> None:
        self.rows[run.run_id] = run
        self.done = done
        if self.live is not None:
            self.live.update(self._table(), refresh=True)

    def end(self) -> None:
        if self.live is not None:
            self.live.stop()

    def _table(self) -> Any:
        from rich.table import Table

        varying = list(self.spec.get("varying") or [])
        metric = self.spec.get("metric")
        table = Table(title=f"sweep: {self.done}/{self.total} done", title_justify="left")
        for col in ["trial", *varying, *([metric] if metric else []), "status", "duration"]:
            table.add_column(col)
        runs = sorted(self.rows.values(), key=lambda r: int(r.tags.get(tags.SWEEP_INDEX, "0")))
        ended = [r for r in runs if r.status != RUNNING]
        keep = {r.run_id for r in runs if r.status == RUNNING}
        keep.update(r.run_id for r in ended[-LIVE_FINISHED_SHOWN:])
        shown = [r for r in runs if r.run_id in keep]
        for r in shown:
            value = r.metrics.get(metric) if metric else None
            duration = ""
            if r.start_time and r.end_time and r.status != RUNNING:
                duration = f"{(r.end_time - r.start_time) / 1000:.1f}s"
            table.add_row(
                r.tags.get(tags.SWEEP_INDEX, ""),
                *(r.params.get(v, "") for v in varying),
                *([f"{value.value:.6g}" if value else ""] if metric else []),
                r.status,
                duration,
            )
        return table


def command_line() -> str:
    """The command recorded on the sweep run: this process's arguments after `mlrun sweep`."""
    from mlrun_cli.redact import redact

    line = "mlrun sweep " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "mlrun sweep"
    return redact(line)


def observer(as_json: bool) -> TrialObserver | None:
    """A live table on a terminal; otherwise the scheduler's plain lines (for pipes and logs).

    Both streams must be the terminal: the trials' output is printed above the table.
    """
    if as_json or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return None
    return LiveTable()


def finish(summary: dict[str, Any], as_json: bool, tracking_uri: str | None) -> None:
    if "exit_code" not in summary:  # submitted with --detach
        from mlrun_cli.cli.perform import print_detached

        print_detached(summary, as_json)
        return
    resume = resume_command(summary, tracking_uri)
    if as_json:
        console.json_out(
            {
                **{k: v for k, v in summary.items() if k != "exit_code"},
                "resume_command": resume,
            }
        )
    else:
        print_summary(summary, resume)
    sys.exit(summary["exit_code"])


def print_plan(prep: Prepared, as_json: bool) -> None:
    """What `--dry-run` shows: every trial's parameters and command (or mlrun.sweep-plan/1)."""
    rows: list[dict[str, Any]] = [
        {"index": i, "params": t, "command": c}
        for i, (t, c) in enumerate(zip(prep.resolved, prep.commands, strict=True))
    ]
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.sweep-plan/1",
                "method": prep.sweep.method,
                "seed": prep.sweep.seed,
                "trials": rows,
            }
        )
        return
    for row in rows:
        console.out(
            f"{row['index']}: {' '.join(f'{k}={v}' for k, v in row['params'].items())}  $ {row['command']}"
        )
    console.info(
        f"{len(rows)} trials ({prep.sweep.method}, seed {prep.sweep.seed}); nothing recorded"
    )


def resume_command(summary: Mapping[str, Any], tracking_uri: str | None) -> str | None:
    """The command that runs what a sweep left undone, or None when nothing is left.

    Unstarted and killed trials are run by a plain resume; failed ones need --retry-failed.
    """
    counts = summary["counts"]
    command = f"mlrun sweep resume {summary['sweep']['run_id'][:8]}"
    if tracking_uri:
        import shlex

        command += f" --tracking-uri {shlex.quote(tracking_uri)}"
    if counts.get("SCHEDULED", 0) + counts.get("KILLED", 0) + counts.get("RUNNING", 0):
        return command
    if counts.get("FAILED", 0):
        return command + " --retry-failed"
    return None


def print_summary(summary: Mapping[str, Any], resume: str | None = None) -> None:
    """The lines that end a sweep: counts by status, the failed trials, the best one, and the
    command that resumes it when trials are left."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
    sw = summary["sweep"]
    console.info(f"sweep {sw['run_id'][:8]} {sw['status']}: {counts}")
    failed = [t for t in summary["trials"] if t["status"] == "FAILED"]
    if failed:
        console.info(
            "failed trials: " + ", ".join(f"{t['index']} ({t['run_id'][:8]})" for t in failed)
        )
    best = summary.get("best")
    if best:
        console.info(
            f"best: trial {best['index']} {summary['metric']}={best['value']:.6g} ({best['run_id'][:8]})"
        )
    if resume:
        console.info(f"resume with: {resume}")


def show_table(summary: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows of `mlrun sweep show`: best mark, trial, varying params, metric..."""
    varying = summary["varying"]
    metric = summary["metric"]
    best = (summary.get("best") or {}).get("run_id")
    header = ["best", "trial", *varying, *([metric] if metric else []), "status", "duration", "run"]
    rows = [
        [
            "*" if t["run_id"] == best else "",
            t["index"],
            *(t["params"].get(v, "") for v in varying),
            *([f"{t['metric']:.6g}" if t["metric"] is not None else ""] if metric else []),
            t["status"]
            + (" (lost)" if t["lost"] else "")
            + (" (linked)" if t["linked_run"] else ""),
            f"{t['duration_s']:.1f}s" if t["duration_s"] is not None else "",
            t["run_id"][:8],
        ]
        for t in summary["trials"]
    ]
    return header, rows


def show_csv(summary: Mapping[str, Any]) -> str:
    """`mlrun sweep show --csv`: full values (run ids, unrounded metrics), for spreadsheets."""
    varying = summary["varying"]
    metric = summary["metric"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["trial", *varying, *([metric] if metric else []), "status", "duration_s", "run_id"]
    )
    for t in summary["trials"]:
        writer.writerow(
            [
                t["index"],
                *(t["params"].get(v, "") for v in varying),
                *([t["metric"]] if metric else []),
                t["status"],
                t["duration_s"],
                t["run_id"],
            ]
        )
    return buf.getvalue()


def list_table(found: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns and rows of `mlrun sweep list`."""
    return (
        ["sweep", "name", "status", "trials", "finished"],
        [
            (s["run_id"][:8], s["name"], s["status"], s["count"], s["counts"].get("FINISHED", 0))
            for s in found
        ],
    )
