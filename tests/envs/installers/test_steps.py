from __future__ import annotations

import pytest

from mlrun_cli.envs.installers.steps import Collecting, Installed, InstallStep, Summary
from mlrun_cli.values import FrozenInstanceError


def test_steps_and_progress_lines_are_frozen_values() -> None:
    step = InstallStep("requirements", ("pip", "install"), 1)
    assert step == InstallStep("requirements", ("pip", "install"), 1)
    with pytest.raises(FrozenInstanceError):
        step.count = 2  # type: ignore[misc]
    assert Summary("six") == Summary("six") != Collecting("six")
    assert {Installed(1), Installed(1)} == {Installed(1)}
