"""The view's API, downsampling and safety, without a browser: the store's view queries, the
routes, and a real server on loopback checked for Host, token and origin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrun_cli.store.base import FINISHED, Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore
from mlrun_cli.ui.api import Api, ApiError, split_or
from mlrun_cli.ui.previews import NotAnArtifact, artifact_file, preview
from mlrun_cli.ui.safety import HEADER, Gate, host_name
from tests.ui import sample
from tests.ui.conftest import Ui, start_ui, stop_ui


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = sample.build(tmp_path / ".mlrun")
    yield s
    s.close()


def test_split_or_keeps_quoted_or() -> None:
    assert split_or("params.a = 'x or y' OR metrics.m > 1 or tags.`t or u` = 'v'") == [
        "params.a = 'x or y'",
        "metrics.m > 1",
        "tags.`t or u` = 'v'",
    ]
    assert split_or("  ") == []
    assert split_or("params.origin = 'a'") == ["params.origin = 'a'"]


def test_run_table_with_or_filter(store: SqliteStore) -> None:
    t = store.run_table(["1"], ["params.layers = '2'", "params.layers = '5'"])
    assert sorted(t["names"]) == ["lr-0", "lr-3"]  # type: ignore[arg-type]
    everything = store.run_table([])
    assert len(everything["ids"]) == 13  # type: ignore[arg-type]
    trials = everything["parent"]
    assert trials.count(sample.SWEEP) == 6  # type: ignore[attr-defined]


def test_buckets_keep_min_and_max(store: SqliteStore) -> None:
    d = store.metric_buckets(sample.LONG, "loss", 500)
    assert d["raw"] is False and d["count"] == d["total"] == sample.LONG_POINTS
    assert len(d["x"]) == 500  # type: ignore[arg-type]
    assert max(d["max"]) == 9.0  # the single spike survives  # type: ignore[arg-type]
    assert sum(d["n"]) == sample.LONG_POINTS  # type: ignore[arg-type]
    zoom = store.metric_buckets(sample.LONG, "loss", 500, 12_000, 12_600)
    assert zoom["raw"] is True and zoom["count"] == 601 and zoom["total"] is None
    assert zoom["x"][0] == 12_000 and 9.0 in zoom["y"]  # type: ignore[index, operator]
    ranged = store.metric_buckets(sample.LONG, "loss", 100)  # a bucket per range query
    assert ranged["raw"] is False and ranged["total"] == sample.LONG_POINTS
    assert len(ranged["x"]) == 100 and max(ranged["max"]) == 9.0  # type: ignore[arg-type]
    assert ranged["x"] == sorted(ranged["x"]) and ranged["x"][0] == 99.995  # type: ignore[index]
    assert ranged["y"][0] == pytest.approx(sum(1 / (1 + s / 100) for s in range(200)) / 200)  # type: ignore[index]
    short = store.metric_buckets(sample.PLAIN[0], "loss", 500)
    assert short["raw"] is True and len(short["x"]) == 100  # type: ignore[arg-type]
    small = store.metric_buckets(sample.LONG, "loss", 100, axis="time")
    assert small["raw"] is False and sum(small["n"]) == sample.LONG_POINTS  # type: ignore[arg-type]
    assert store.metric_buckets(sample.LONG, "nope", 10)["total"] == 0


def test_summaries(store: SqliteStore) -> None:
    rid = sample.PLAIN[0]
    assert store.metric_summary(["1"], "loss", "min")[rid] == pytest.approx(
        1.0 * 2.718281828 ** (-99 / 30) + 0.01
    )
    assert store.metric_summary(["1"], "loss", "max")[rid] == pytest.approx(1.01)
    assert store.metric_summary(["1"], "loss", "at", 0)[rid] == pytest.approx(1.01)
    last = store.metric_summary(["1"], "loss", "last")
    assert last[rid] == pytest.approx(0.046883, abs=1e-6) and sample.LONG not in last


def test_changed_since(store: SqliteStore) -> None:
    cursor, since, _ = store.changed_since(2**62, 2**62)
    store.log_batch(sample.PLAIN[1], metrics=[Metric("loss", 0.5, 200, 1)])
    cursor2, _, ids = store.changed_since(cursor, since)
    assert sample.PLAIN[1] in ids and sample.RUNNING_ID in ids and sample.PLAIN[2] not in ids
    assert cursor2 > cursor
    assert sample.PLAIN[1] not in store.changed_since(cursor2, since)[2]


def test_api_routes(store: SqliteStore) -> None:
    api = Api(store)
    detail = api.get("run/" + sample.PLAIN[0][:6], {})
    assert detail["params"]["optimizer"] == "adam"  # type: ignore[index]
    assert detail["patch"] == "source/uncommitted.patch"  # type: ignore[index]
    assert ["commit", "c0ffee0" + "0" * 33] in detail["provenance"]  # type: ignore[operator]
    sweep = api.get("sweep/" + sample.SWEEP, {})
    assert sweep["best"] == sample.TRIALS[0] and len(sweep["trials"]["ids"]) == 6  # type: ignore[index]
    series = api.get(
        "metrics", {"runs": ",".join(sample.PLAIN), "keys": "loss,accuracy", "buckets": "50"}
    )
    assert len(series) == 8  # type: ignore[arg-type]
    log = api.get("log/" + sample.PLAIN[0], {})
    assert log["text"].startswith("epoch 0")  # type: ignore[index]
    more = api.get("log/" + sample.PLAIN[0], {"offset": str(log["offset"])})  # type: ignore[index]
    assert more["text"] == ""  # type: ignore[index]
    with pytest.raises(ApiError, match="not a sweep"):
        api.get("sweep/" + sample.PLAIN[0], {})
    with pytest.raises(ApiError) as info:
        api.get("run/" + "e" * 32, {})
    assert info.value.status == 404
    with pytest.raises(ApiError, match="axis"):
        api.get("metric", {"run": sample.LONG, "key": "loss", "axis": "bogus"})
    api.post(f"run/{sample.PLAIN[0]}/tag", {"key": "note", "value": "good"})
    assert store.get_run(sample.PLAIN[0]).tags["note"] == "good"
    api.post(f"run/{sample.PLAIN[0]}/delete", {})
    assert store.get_run(sample.PLAIN[0]).lifecycle_stage == "deleted"


def test_previews_are_bounded_and_stay_inside(store: SqliteStore, tmp_path: Path) -> None:
    root = store.artifact_dir(sample.PLAIN[0])
    big = preview(root, "big.log")
    assert big["truncated"] is True and len(str(big["text"])) == 64 * 1024
    assert preview(root, "table.csv")["kind"] == "csv"
    assert preview(root, "summary.json")["text"].startswith("{\n")  # type: ignore[union-attr]
    assert preview(root, "report.html")["kind"] == "html"
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    (root / "link.txt").symlink_to(secret)
    for bad in ("../../../../secret.txt", "/etc/passwd", "link.txt", "missing.txt", ""):
        with pytest.raises(NotAnArtifact):
            artifact_file(root, bad)


def test_gate_rules() -> None:
    local = Gate("127.0.0.1", "tok")
    assert local.check("GET", {"Host": "127.0.0.1:5000"}, None, {}) is None
    assert local.check("GET", {"Host": "localhost:5000"}, None, {}) is None
    assert local.check("GET", {"Host": "evil.example:5000"}, None, {})[0] == 403  # type: ignore[index]
    assert local.check("GET", {}, None, {})[0] == 403  # type: ignore[index]
    assert local.check("POST", {"Host": "localhost"}, None, {})[0] == 403  # type: ignore[index]
    ok = {"Host": "127.0.0.1:1", HEADER: "tok", "Origin": "http://127.0.0.1:1"}
    assert local.check("POST", ok, None, {}) is None
    assert local.check("POST", {**ok, "Origin": "http://evil.example"}, None, {})[0] == 403  # type: ignore[index]
    assert local.check("POST", {**ok, "Sec-Fetch-Site": "cross-site"}, None, {})[0] == 403  # type: ignore[index]
    remote = Gate("192.0.2.7", "tok")
    assert remote.check("GET", {"Host": "192.0.2.7:5000"}, None, {})[0] == 401  # type: ignore[index]
    assert remote.check("GET", {"Host": "192.0.2.7:5000"}, "tok", {}) is None
    assert remote.check("GET", {"Host": "192.0.2.7:5000"}, None, {"mlrun_ui_token": "tok"}) is None
    assert remote.check("GET", {"Host": "192.0.2.7:5000"}, "wrong", {})[0] == 401  # type: ignore[index]
    assert Gate("0.0.0.0", "tok").check("GET", {"Host": "box.lan:5000"}, None, {})[0] == 401  # type: ignore[index]
    assert host_name("[::1]:5000") == "::1" and host_name("LOCALHOST") == "localhost"


def request(
    url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, object] | str]:
    req = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw, status, kind = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, status, kind = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in kind else raw.decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui-api") / ".mlrun"
    sample.build(root).close()
    ui = start_ui(root, "--token", "sekrit", env={"MLRUN_CACHE_DIR": str(root.parent / "cache")})
    yield ui
    stop_ui(ui)


def test_server_over_http(served: Ui) -> None:
    status, info = request(served.url + "/api/info")
    assert status == 200 and isinstance(info, dict) and info["store"] == str(served.root)
    status, page = request(served.url + "/runs/" + sample.PLAIN[0])
    assert status == 200 and 'content="sekrit"' in str(page)
    status, _ = request(served.url + "/api/info", {"Host": "attacker.example:80"})
    assert status == 403
    post = served.url + f"/api/run/{sample.PLAIN[1]}/tag"
    body = json.dumps({"key": "k", "value": "v"}).encode()
    assert request(post, {"Content-Type": "application/json"}, body)[0] == 403
    assert request(post, {HEADER: "sekrit", "Origin": "http://attacker.example"}, body)[0] == 403
    assert request(post, {HEADER: "sekrit"}, body)[0] == 200
    status, err = request(served.url + "/api/runs?filter=" + "metrics.x%20%3E%3E%201")
    assert status == 400 and "column" in str(err)
    status, text = request(served.url + f"/files/{sample.PLAIN[0]}/notes.txt")
    assert status == 200 and str(text).startswith("hello from the run")
    assert request(served.url + f"/files/{sample.PLAIN[0]}/..%2F..%2Fmlrun.db")[0] == 400


def test_ui_refuses_a_taken_port_and_an_mlflow_server(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mlrun_cli", "ui", "--port", str(port), "--tracking-uri", str(tmp_path / "s")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "ui", "--tracking-uri", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "MLRUN_CACHE_DIR": str(tmp_path / "c")},
    )  # fmt: skip
    assert proc.returncode == 2 and "its own UI" in proc.stderr, proc.stderr


def test_report_of_a_filter_and_refusals(store: SqliteStore, tmp_path: Path) -> None:
    root = str(store.root)
    out = tmp_path / "r.html"
    run = [sys.executable, "-m", "mlrun_cli", "report", "--tracking-uri", root]
    proc = subprocess.run(
        [*run, "--filter", "params.layers = '2' or params.lr = '0.5'", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 runs" in proc.stdout and "MLRUN_REPORT" in out.read_text()
    proc = subprocess.run(
        [*run, "--filter", "params.layers = '99'"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no run matches" in proc.stderr
    proc = subprocess.run(
        [*run, sample.PLAIN[0][:8], "--filter", "x"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "one of the two" in proc.stderr
    store.create_runs([NewRun("c" * 32, "1", "x", "u", "c", {}, {}, 1, FINISHED)])


def test_the_page_ships_whole_and_loads_nothing_from_elsewhere() -> None:
    import re

    from mlrun_cli.ui.server import STATIC, static_files

    files = static_files()
    referenced = re.findall(r'/static/([\w.]+)"', files["index.html"].decode())
    assert referenced and all(name in files for name in referenced)
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org)", text), path.name  # no CDN, no remote


def test_a_view_started_before_the_store_exists_sees_its_first_run(tmp_path: Path) -> None:
    root = tmp_path / "later" / ".mlrun"
    ui = start_ui(root, env={"MLRUN_CACHE_DIR": str(tmp_path / "cache")})
    try:
        status, table = request(ui.url + "/api/runs")
        assert status == 200 and table["ids"] == []  # type: ignore[index]
        assert not root.exists()  # reading created nothing
        store = SqliteStore(root)
        store.create_runs([NewRun("d" * 32, "0", "first", "u", "c", {}, {}, 1, FINISHED)])
        store.close()
        status, table = request(ui.url + "/api/runs")
        assert table["ids"] == ["d" * 32]  # type: ignore[index]
    finally:
        stop_ui(ui)


def test_off_loopback_the_token_in_the_url_becomes_a_cookie(store: SqliteStore) -> None:
    import http.client
    import threading

    from mlrun_cli.ui.server import make_server

    server = make_server(lambda: SqliteStore(store.root), "127.0.0.1", 0, "tok")
    # The rules of a server bound to another address (tests listen on loopback only).
    server.gate = Gate("192.0.2.7", "tok")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    host = {"Host": f"192.0.2.7:{port}"}

    def get(path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    try:
        assert get("/", host).status == 401
        redirect = get("/?token=tok", host)
        assert redirect.status == 303 and redirect.getheader("Location") == "/"
        cookie = (redirect.getheader("Set-Cookie") or "").split(";")[0]
        assert "HttpOnly" in (redirect.getheader("Set-Cookie") or "")
        assert get("/api/info", {**host, "Cookie": cookie}).status == 200
        assert get("/api/info", {**host, "Cookie": "mlrun_ui_token=nope"}).status == 401
    finally:
        server.shutdown()
        server.server_close()


def test_static_files_are_revalidated_not_sent_again(served: Ui) -> None:
    import http.client

    port = int(served.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/static/core.js", headers={"Accept-Encoding": "gzip"})
    first = conn.getresponse()
    first.read()
    tag = first.getheader("ETag")
    assert first.status == 200 and first.getheader("Content-Encoding") == "gzip" and tag
    conn.request("GET", "/static/core.js", headers={"If-None-Match": tag})
    second = conn.getresponse()
    assert second.status == 304 and second.read() == b""
    conn.close()
