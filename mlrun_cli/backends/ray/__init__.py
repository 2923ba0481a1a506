"""The Ray backend: Ray Jobs, one `list_jobs` per poll, one job per sweep trial.

`ray` itself is imported only when a Ray cluster is contacted (`client`).
"""

from __future__ import annotations

from mlrun_cli.backends.ray.backend import RayBackend
from mlrun_cli.backends.ray.config import load_config

__all__ = ["RayBackend", "load_config"]
