"""The Ray Jobs API as this backend uses it: a thin wrapper around `JobSubmissionClient`.

`ray` is imported here only, when a Ray job is submitted, polled or cancelled; a missing
package is a one-line error saying how to install it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from mlrun_cli.backends import BackendError
from mlrun_cli.backends.ray.config import DEFAULT_TIMEOUT_S, INSTALL_HINT
from mlrun_cli.values import valueclass


@valueclass
class RayJob:
    """One job as `list_jobs` reports it (the fields we read)."""

    submission_id: str
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED
    message: str = ""
    start_time_ms: int | None = None  # Ray sets it when the job is submitted
    end_time_ms: int | None = None
    metadata: Mapping[str, str] | None = None
    exit_code: int | None = None


class Jobs(Protocol):
    """The four calls the backend makes; the real one talks to the dashboard's REST API."""

    address: str

    def list(self) -> list[RayJob]: ...

    def submit(self, submission_id: str, entrypoint: str, **options: Any) -> None: ...

    def stop(self, submission_id: str) -> bool: ...

    def logs(self, submission_id: str) -> str: ...


class JobsClient:
    """`JobSubmissionClient(address)`: one HTTP call per method (list_jobs is all jobs), each
    given at most `timeout` seconds: a head that hangs is an error, never a hang."""

    def __init__(self, address: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise BackendError(f"{INSTALL_HINT} (ray[default]); it is not installed") from None
        self.address = address or "(RAY_ADDRESS)"
        self.timeout = timeout

        class Client(JobSubmissionClient):
            # The SDK passes no timeout to `requests`; every call it makes (the version
            # checks in __init__ too) goes through `_do_request`, which forwards keywords.
            def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
                kwargs.setdefault("timeout", timeout)
                return super()._do_request(method, endpoint, **kwargs)

        try:
            self._client = Client(address)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError, Ray's own
            if _timed_out(exc):
                raise BackendError(self._hung("the version check")) from None
            raise BackendError(
                f"cannot reach the Ray Jobs API at {address} ({_first_line(exc)}); start the "
                "cluster (ray start --head --include-dashboard=true) or set address in the "
                "backend config (or RAY_ADDRESS)"
            ) from None

    def _hung(self, call: str) -> str:
        return (
            f"the Ray Jobs API at {self.address} did not answer {call} in {self.timeout:g} s; "
            "check the head (ray status on it) or raise timeout in the backend config"
        )

    def _failed(self, call: str, exc: Exception, hint: str = "") -> BackendError:
        if _timed_out(exc):
            return BackendError(self._hung(call))
        return BackendError(f"ray {call} at {self.address} failed: {_first_line(exc)}{hint}")

    def list(self) -> list[RayJob]:
        try:
            jobs = self._client.list_jobs()
        except (OSError, RuntimeError) as exc:  # requests' errors are OSErrors
            raise self._failed("list_jobs", exc) from None
        return [
            RayJob(
                submission_id=j.submission_id,
                status=str(getattr(j.status, "value", j.status)),
                message=j.message or "",
                start_time_ms=j.start_time,
                end_time_ms=j.end_time,
                metadata=j.metadata or {},
                exit_code=getattr(j, "driver_exit_code", None),
            )
            for j in jobs
            if j.submission_id  # drivers started by ray.init() elsewhere have none
        ]

    def submit(self, submission_id: str, entrypoint: str, **options: Any) -> None:
        """Submit a job; a `working_dir` in its runtime_env is zipped and uploaded whole (the
        SDK would leave out what a .gitignore in it names: the snapshot is exact already)."""
        try:
            with _whole_working_dir():
                self._client.submit_job(
                    entrypoint=entrypoint, submission_id=submission_id, **options
                )
        except (OSError, RuntimeError, ValueError) as exc:
            if _timed_out(exc):
                raise self._failed(f"submit_job {submission_id}", exc) from None
            raise BackendError(
                f"ray refused job {submission_id}: {_first_line(exc)}; check the backend config"
            ) from None

    def stop(self, submission_id: str) -> bool:
        """Stop a job (SIGTERM to its processes, SIGKILL after RAY_JOB_STOP_WAIT_TIME_S);
        False if Ray does not know it or it had ended."""
        try:
            return bool(self._client.stop_job(submission_id))
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and "does not exist" in str(exc):
                return False
            raise self._failed(f"stop_job {submission_id}", exc) from None

    def logs(self, submission_id: str) -> str:
        """Everything the job has printed so far (Ray keeps its driver's output)."""
        try:
            return str(self._client.get_job_logs(submission_id))
        except (OSError, RuntimeError) as exc:
            raise self._failed(f"get_job_logs {submission_id}", exc) from None


# Ray's own switch: upload a working_dir without applying its .gitignore files.
_IGNORE_GITIGNORE = "RAY_RUNTIME_ENV_IGNORE_GITIGNORE"


@contextlib.contextmanager
def _whole_working_dir() -> Iterator[None]:
    before = os.environ.get(_IGNORE_GITIGNORE)
    os.environ[_IGNORE_GITIGNORE] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_IGNORE_GITIGNORE, None)
        else:
            os.environ[_IGNORE_GITIGNORE] = before


_CLIENTS: dict[str, Jobs] = {}


def connect(address: str, timeout: float = DEFAULT_TIMEOUT_S) -> Jobs:
    """The client for `address`, made once per process (a poll loop reuses it)."""
    key = f"{address} {timeout:g}"
    if key not in _CLIENTS:
        _CLIENTS[key] = JobsClient(address, timeout)
    return _CLIENTS[key]


def reset_clients() -> None:
    """Forget the clients made so far (tests start and stop clusters)."""
    _CLIENTS.clear()


def _timed_out(exc: BaseException) -> bool:
    """`requests`' ConnectTimeout and ReadTimeout (by name: `requests` is Ray's, not ours)."""
    return any(
        c.__name__ in ("Timeout", "ConnectTimeout", "ReadTimeout") for c in type(exc).__mro__
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and "Traceback" in lines[0]:
        return lines[-1][:300]  # the dashboard answered with a traceback: its last line says why
    return (lines[0] if lines else type(exc).__name__)[:300]
