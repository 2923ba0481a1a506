"""Run a sweep's trials on this machine, at most `jobs` at once, each as its own process.

Each trial is exactly an `mlrun run`: a `mlrun _trial RUN_ID` process adopts the claimed run
and does everything a run does (environment from the warm cache, child contract, signals,
provenance). Claims are atomic in the store, so two resumes never run one trial, and a trial
holds a lease (the pid, host and start time of the process running it): a trial whose process
is gone is LOST (recorded KILLED with `mlrun.lost`) and runs again on resume.

What the scheduler sees is told to a `TrialObserver` (the CLI's live table on a terminal);
the scheduler itself shows nothing: the default observer says one line when the sweep starts
(its id, so it can be resumed however it ends) and one per ended trial.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mlrun_cli.backends import JobSpec
from mlrun_cli.backends.local import LocalBackend
from mlrun_cli.envs import BuildInterrupted
from mlrun_cli.run.signals import Signals
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, RUNNING, SCHEDULED, Run, RunIndex
from mlrun_cli.sweeps.summary import (
    finish_sweep,
    report_start,
    report_trial,
    report_trial_start,
    trial_counts,
)
from mlrun_cli.sweeps.tpe import TpeSampler

POLL_S = 0.02  # between two looks at the trial processes: a trial's end is seen at once


class TrialObserver(Protocol):
    """Told what a local sweep does, to show it; `mlrun sweep` gives a live table on a terminal.

    An observer whose `captures_output` is true is given the trials' output (`trial_output`,
    one line at a time) when one trial runs at a time, to print it where it chooses.
    """

    captures_output: bool

    def begin(
        self, sweep_id: str, spec: Mapping[str, Any], total: int, done: int, logged: bool
    ) -> None:
        """The sweep starts (before its environment is built): `total` trials, `done` ended;
        `logged`: the trials' output goes to their logs only (several run at once)."""
        ...

    def trial_started(self, run: Run) -> None:
        """Trial `run` was claimed and its process started."""
        ...

    def trial_output(self, line: bytes) -> None:
        """One line (with its newline, if it had one) of the running trial's output."""
        ...

    def trial_ended(self, run: Run, done: int) -> None:
        """Trial `run` ended (as recorded); `done` of the sweep's trials have ended."""
        ...

    def end(self) -> None:
        """No trial runs any more; the sweep's end is recorded next."""
        ...


class TrialLines:
    """The default observer: a line when the sweep starts, one per ended trial; for pipes, logs."""

    captures_output = False

    def __init__(self) -> None:
        self.spec: Mapping[str, Any] = {}
        self.total = 0

    def begin(
        self, sweep_id: str, spec: Mapping[str, Any], total: int, done: int, logged: bool
    ) -> None:
        self.spec, self.total = spec, total
        report_start(sweep_id, total, done, logged)

    def trial_started(self, run: Run) -> None:
        report_trial_start(run, self.spec)

    def trial_output(self, line: bytes) -> None:
        pass

    def trial_ended(self, run: Run, done: int) -> None:
        report_trial(run, self.spec, done, self.total)

    def end(self) -> None:
        pass


def run_trials(
    store: RunIndex,
    sweep_id: str,
    spec: Mapping[str, Any],
    *,
    jobs: int,
    statuses: Sequence[str] = (SCHEDULED,),
    fail_fast: bool = False,
    max_failures: int | None = None,
    as_json: bool = False,
    observer: TrialObserver | None = None,
) -> dict[str, Any]:
    """Run the sweep's trials in `statuses` here until none is left, then record its end.

    New trials stop being started after a failure (`fail_fast`), after `max_failures`, or on
    INT/TERM, which also ends the running ones. Returns the sweep's summary with exit_code.
    """
    scheduler = _LocalScheduler(
        store,
        sweep_id,
        spec,
        jobs=jobs,
        as_json=as_json,
        observer=observer or TrialLines(),
    )
    return scheduler.run(statuses, fail_fast, max_failures)


class _LocalScheduler:
    """One run of the local scheduler: its trial processes, signals and counts."""

    def __init__(
        self,
        store: RunIndex,
        sweep_id: str,
        spec: Mapping[str, Any],
        *,
        jobs: int,
        as_json: bool,
        observer: TrialObserver,
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.spec = spec
        self.max_jobs = jobs
        self.observer = observer
        # With --json the summary owns stdout and the trials' output goes to stderr; with several
        # trials at once their output stays in each run's log rather than interleaving. One
        # trial at a time under an observer that shows output: a pipe read here, so the output
        # is printed above a live table instead of under its redraws.
        self.output = _OutputPipe() if observer.captures_output and jobs == 1 else None
        out: Any = sys.stderr if as_json else (subprocess.DEVNULL if jobs > 1 else None)
        self.backend = LocalBackend(stdout=self.output.write_fd if self.output else out)
        self.jobs: dict[str, str] = {}  # trial run id -> job id
        self.host = os.uname().nodename
        # INT and TERM only, as this runner always caught: HUP keeps its default action.
        self.signals = Signals(on_signal=self._on_signal, signals=(signal.SIGINT, signal.SIGTERM))
        self.tpe: TpeSampler | None = None
        self.done = 0
        self.failures = 0
        self.stopping = False

    def _on_signal(self, signum: int, count: int) -> None:
        # Each trial process ends its own command's process group (forward, SIGTERM, SIGKILL).
        sig = signal.Signals(signum if count == 1 else signal.SIGINT).name.removeprefix("SIG")
        self.backend.cancel(list(self.jobs.values()), signal=sig)

    def run(
        self, statuses: Sequence[str], fail_fast: bool, max_failures: int | None
    ) -> dict[str, Any]:
        with self.signals:
            parent = self.store.get_run(self.sweep_id)
            self.store.adopt_run(
                self.sweep_id, os.getpid(), self.host, parent.start_time or 0, parent.command or ""
            )
            self.done = self._ended()
            total = int(self.spec["count"])
            logged = self.backend.stdout is subprocess.DEVNULL
            self.observer.begin(self.sweep_id, self.spec, total, self.done, logged)
            try:
                self._prepare_env()
            except BuildInterrupted:
                # Ctrl-C while the environment was built: the sweep ends KILLED, resumable.
                return finish_sweep(self.store, self.sweep_id, self.signals.received or 2)
            if self.spec["method"] == "tpe":
                self.tpe = TpeSampler(self.store, self.sweep_id, self.spec)
            limit = 1 if fail_fast else max_failures
            try:
                while True:
                    self._start_trials(statuses)
                    if not self.jobs:
                        break
                    self._wait()
                    self._collect(limit)
            finally:
                if self.output is not None:
                    self.output.close()
                self.observer.end()
            return finish_sweep(self.store, self.sweep_id, self.signals.received)

    def _ended(self) -> int:
        """How many of the sweep's trials have ended (earlier ones too, on a resume)."""
        counts = trial_counts(self.store, self.sweep_id)
        return sum(counts.get(s, 0) for s in (FINISHED, FAILED, KILLED))

    def _wait(self) -> None:
        """Until a trial may have ended: POLL_S, or less when the trials' output arrives."""
        if self.output is None:
            time.sleep(POLL_S)
            return
        for line in self.output.read(POLL_S):
            self.observer.trial_output(line)

    def _prepare_env(self) -> None:
        """The environment is resolved and built once, before fanning out."""
        from mlrun_cli.envs import get_manager
        from mlrun_cli.project.mlproject import load_project
        from mlrun_cli.sources.resolve import resolve_source
        from mlrun_cli.sweeps.prepare import trial_source

        source = resolve_source(*trial_source(self.spec))
        try:
            get_manager(self.spec["env_manager"]).prepare(
                load_project(source.dir), cancelled=lambda: self.signals.received is not None
            )
        finally:
            source.cleanup()

    def _start_trials(self, statuses: Sequence[str]) -> None:
        """Claim and start trials until `jobs` run, none is left, or the sweep is stopping."""
        while (
            not self.stopping and self.signals.received is None and len(self.jobs) < self.max_jobs
        ):
            rid = self.store.claim_trial(self.sweep_id, statuses, os.getpid(), self.host)
            if rid is None:
                return
            if self.tpe is not None:
                self.tpe.ask(rid)
            self.jobs[rid] = self.backend.submit(
                JobSpec(
                    name=rid,
                    argv=[
                        sys.executable,
                        "-m",
                        "mlrun_cli",
                        "-q",
                        "_trial",
                        rid,
                        "--tracking-uri",
                        str(self.store.root),
                    ],
                    workdir=Path.cwd(),
                    log=self.backend.log_path(self.store.run_dir(rid)),
                    script=self.store.run_dir(rid),
                )
            ).job_id
            self.observer.trial_started(self.store.get_run(rid))

    def _collect(self, max_failures: int | None) -> None:
        """Take in the trials whose process ended; none is started after `max_failures`."""
        states = self.backend.poll(list(self.jobs.values()))
        for rid, job_id in list(self.jobs.items()):
            if states[job_id].state == "RUNNING":
                continue
            del self.jobs[rid]
            returncode = self.backend.forget(job_id)
            run = self.store.get_run(rid)
            if run.status == RUNNING:  # the trial process died before recording an end
                from mlrun_cli.run.lost import LOST_STATUS, lost_tags

                self.store.log_batch(rid, tags=lost_tags("trial process exited early"))
                self.store.set_terminated(rid, LOST_STATUS, int(time.time() * 1000), returncode)
                run = self.store.get_run(rid)
            if self.output is not None:  # what the trial wrote last, before its end is shown
                for line in self.output.read(0, flush=True):
                    self.observer.trial_output(line)
            self.done = self._ended()
            if self.tpe is not None:
                self.tpe.tell(run)
            if run.status == FAILED:
                self.failures += 1
                if max_failures is not None and self.failures >= max_failures:
                    self.stopping = True
            self.observer.trial_ended(run, self.done)


class _OutputPipe:
    """The trials' stdout and stderr, as one pipe this process reads line by line."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.pending = b""

    def read(self, timeout: float, *, flush: bool = False) -> list[bytes]:
        """The whole lines that arrived within `timeout` (and, with `flush`, the rest)."""
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        for _ in range(16) if ready else ():  # a bounded drain: a chatty trial cannot stall us
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        out = [line + b"\n" for line in lines]
        if flush and self.pending:
            out.append(self.pending)
            self.pending = b""
        return out

    def close(self) -> None:
        os.close(self.write_fd)
        os.close(self.read_fd)
