from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlrun_cli.envs.interpreters import current, find, matches
from mlrun_cli.errors import EnvError


def test_version_matching() -> None:
    assert matches("3.11.7", "3.11") and matches("3.11.7", "3.11.7") and matches("3.11.7", "3")
    assert not matches("3.11.7", "3.1") and not matches("3.11.7", "3.11.8")


def test_current_interpreter() -> None:
    interp = current()
    assert interp.path == Path(sys.executable).resolve()
    assert interp.version == "{}.{}.{}".format(*sys.version_info[:3])
    assert find(None) == interp


def test_find_current_interpreter_without_subprocess() -> None:
    assert find("{}.{}".format(*sys.version_info[:2])).version.startswith("3.")
    assert find(" {}.{}.{} ".format(*sys.version_info[:3])) == current()
    with pytest.raises(EnvError, match=r"is not of the form 3\.11"):
        find("latest")
