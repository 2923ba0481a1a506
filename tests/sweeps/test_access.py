from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.errors import TrackingError
from mlrun_cli.sweeps.access import open_sweep_store


def test_the_embedded_store(isolated: Path) -> None:
    store = open_sweep_store(str(isolated / ".mlrun"))
    assert store.root == isolated / ".mlrun"


def test_a_server_is_refused() -> None:
    with pytest.raises(TrackingError) as err:
        open_sweep_store("http://127.0.0.1:9")
    assert str(err.value) == (
        "sweeps need the embedded store (a directory); MLflow servers are not supported for them yet"
    )
