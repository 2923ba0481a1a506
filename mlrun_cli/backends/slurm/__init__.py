"""The Slurm backend: `sbatch` array jobs, one `squeue` per poll, one `scancel` per cancel."""

from __future__ import annotations

from mlrun_cli.backends.slurm.backend import SlurmBackend
from mlrun_cli.backends.slurm.config import load_config

__all__ = ["SlurmBackend", "load_config"]
