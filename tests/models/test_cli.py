"""`mlrun models` in-process on the embedded store: register, alias, list, show, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

RUN = "c" * 32


@pytest.fixture
def store(isolated: Path) -> SqliteStore:
    s = SqliteStore(isolated / ".mlrun")
    s.create_run(NewRun(RUN, "0", "train", "u", "python t.py", {}, {}, start_time=1))
    return s


def logged(store: SqliteStore, name: str = "model") -> str:
    model = store.create_logged_model("0", name, RUN, None, {}, {})
    (Path(str(model["artifact_location"])) / "MLmodel").write_text("flavors: {}\n")
    return str(model["model_id"])


def test_register_alias_show_list_delete(store: SqliteStore, cli_run: Callable[..., Any]) -> None:
    model_id = logged(store)
    r = cli_run("models", "register", f"runs:/{RUN[:8]}/model", "iris")
    assert (r.exit_code, r.output.strip()) == (
        0,
        f"registered runs:/{RUN[:8]}/model as iris version 1",
    )
    r = cli_run("models", "register", model_id, "iris", "--json")
    data = json.loads(r.output)
    assert (data["schema"], data["model_version"]["version"]) == ("mlrun.model-version/1", "2")
    assert data["model_version"]["run_id"] == RUN
    assert (
        cli_run("models", "alias", "iris", "champion", "1").output.strip()
        == "iris@champion is version 1"
    )
    r = cli_run("models", "show", "iris")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == "model iris"
    row = next(ln for ln in lines if ln.startswith("1 "))
    assert "champion" in row and RUN[:8] in row and f"runs:/{RUN}/model" in row
    shown = json.loads(cli_run("models", "show", "iris", "--json").output)
    assert [v["version"] for v in shown["versions"]] == ["2", "1"]
    assert shown["model"]["aliases"] == [{"alias": "champion", "version": "1"}]
    listed = cli_run("models", "list").output.splitlines()
    assert listed[1].split()[:3] == ["iris", "2", "champion=1"]
    runs = json.loads(cli_run("runs", "show", RUN[:8], "--json").output)
    assert sorted(v["version"] for v in runs["registered_models"]) == ["1", "2"]
    assert "registered models:" in cli_run("runs", "show", RUN[:8]).output
    assert (
        cli_run("models", "delete", "iris", "--version", "2").output.strip()
        == "deleted iris version 2"
    )
    assert cli_run("models", "delete", "iris", "--json").exit_code == 0
    assert json.loads(cli_run("models", "list", "--json").output)["models"] == []


def test_registering_a_folder(
    store: SqliteStore, cli_run: Callable[..., Any], tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    assert cli_run("models", "register", str(folder), "f").exit_code == 0
    mv = store.registry().get_model_version("f", "1")
    assert (mv["source"], store.registry().download_uri("f", "1")) == (str(folder), folder.as_uri())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "nope"), "Registered Model with name=nope not found"),
        (("models", "register", f"runs:/{RUN}/nothing", "x"), "holds no model"),
        (("models", "register", "m-missing", "x"), "Logged model m-missing not found"),
        (("models", "register", "runs:/ffff/model", "x"), "ffff"),
        (("models", "alias", "nope", "a", "1"), "not found"),
        (("models", "delete", "nope"), "not found"),
        (
            ("models", "serve", "models:/nope/1", "--env-manager", "local", "--port", "0"),
            "not found",
        ),
        (
            ("models", "predict", "models:/nope@x", "-i", "in.csv", "--env-manager", "local"),
            "not found",
        ),
    ],
)
def test_errors_are_one_line_exit_2(
    store: SqliteStore, cli_run: Callable[..., Any], args: tuple[str, ...], message: str
) -> None:
    r = cli_run(*args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.output
