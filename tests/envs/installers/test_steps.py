from __future__ import annotations

import pytest

from mlrun_cli.envs.installers.steps import Expect, Installed, InstallStep, Summary, Tick
from mlrun_cli.values import FrozenInstanceError


def test_steps_and_progress_lines_are_frozen_values() -> None:
    step = InstallStep("requirements", ("pip", "install"), 1)
    assert step == InstallStep("requirements", ("pip", "install"), 1)
    with pytest.raises(FrozenInstanceError):
        step.count = 2  # type: ignore[misc]
    assert Summary("six") == Summary("six") != Tick("resolving", "six")
    assert {Installed(1), Installed(1)} == {Installed(1)}
    assert Expect("installing", 2) != Expect("downloading", 2)
