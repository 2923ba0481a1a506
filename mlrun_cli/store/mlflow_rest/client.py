"""The HTTP side of an MLflow tracking server: auth, retries, and errors as one clear line.

Auth comes from ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` (basic), or the URI's user info, and never appears in a message.
Requests are retried with exponential backoff on connection errors, 429 and 5xx
(``MLRUN_HTTP_RETRIES``, default 3; ``MLRUN_HTTP_BACKOFF`` seconds, default 0.5;
``MLRUN_HTTP_TIMEOUT`` seconds per request, default 30). Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from mlrun_cli.errors import TrackingError
from mlrun_cli.sources.git import strip_credentials
from mlrun_cli.store.base import ParamConflict

API = "/api/2.0/mlflow/"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


class ServerUnreachable(TrackingError):
    """The server could not be reached after the retries."""


class ServerError(TrackingError):
    """The server answered a request with an error (other than refused credentials)."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status
        self.code = code  # MLflow's error_code, "" if the body had none


class RestClient:
    """Sends requests to one MLflow server and decodes the JSON answers."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.shown = strip_credentials(self.uri)
        parts = urlsplit(self.uri)
        self.headers = {"Content-Type": "application/json"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if parts.username:
            # Credentials in the URI win, and leave it: they go in a header, never in a URL.
            user, password = parts.username, parts.password or ""
            host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            self.uri = self.uri.replace(parts.netloc, host, 1)
        if user is not None and password is not None:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        elif token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.retries = int(os.environ.get("MLRUN_HTTP_RETRIES", "3"))
        self.backoff = float(os.environ.get("MLRUN_HTTP_BACKOFF", "0.5"))
        self.timeout = float(os.environ.get("MLRUN_HTTP_TIMEOUT", "30"))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        raw: bytes | None = None,
        api: str = API,
        binary: bool = False,
    ) -> Any:
        """One REST call with retries; returns the decoded JSON (or {} for an empty body), or
        the body's bytes with `binary` (an artifact's content)."""
        # Imported here: urllib.request is slow to import and only a server store needs it.
        import urllib.error
        import urllib.request

        url = self.uri + api + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = dict(self.headers)
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = resp.read()
                if binary:
                    return payload
                return json.loads(payload) if payload.strip() else {}
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                if (exc.code == 429 or exc.code >= 500) and attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise self.http_error(method, path, exc.code, text) from None
            except (OSError, ValueError) as exc:  # URLError, refused, reset, timeout, bad JSON
                if attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                reason = getattr(exc, "reason", exc)
                raise ServerUnreachable(
                    f"MLflow server {self.shown} is unreachable ({reason}); check the URI and "
                    "that the server runs"
                ) from None
        raise AssertionError("unreachable")

    def http_error(self, method: str, path: str, status: int, text: str) -> TrackingError:
        """The error to raise for an error answer: refused credentials, a param conflict, or
        a `ServerError` carrying the status and MLflow's error code."""
        try:
            err = json.loads(text)
            code, message = err.get("error_code", ""), err.get("message", text)
        except ValueError:
            code, message = "", text.strip()[:200]
        if status in (401, 403):
            return TrackingError(
                f"MLflow server {self.shown} refused the credentials ({status}) for {method} "
                f"{path}; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
            )
        if code == "INVALID_PARAMETER_VALUE" and "param" in message.lower():
            return ParamConflict(strip_credentials(message))
        return ServerError(
            f"MLflow server {self.shown}: {method} {path} failed ({status} {code}): "
            f"{strip_credentials(message)}",
            status,
            code,
        )
