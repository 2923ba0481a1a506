"""Every page of `mlrun ui` in a real headless Chromium: the values on screen, the charts and
their series, compare, a sweep, live updates, a filter, a report; no console errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlrun_cli import tags as T
from mlrun_cli.paths import OUTPUT_LOG
from mlrun_cli.store.base import FINISHED, RUNNING, Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.ui import sample
from tests.ui.conftest import Page, Ui


def names(page: Any) -> list[str]:
    return page.locator(".rt-row .name a").all_inner_texts()


def test_runs_table_groups_children_and_sorts(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/")
    p.wait_for_selector(".rt-row")
    assert set(names(p)) == {"live", "tune", "lr-0", "lr-1", "lr-2", "lr-3", "long"}
    assert "13 runs (6 grouped under their parent)" in p.inner_text(".bar .muted")
    p.wait_for_function("performance.getEntriesByName('mlrun:rows-on-screen').length === 1")
    p.click(f".rt-row[data-id='{sample.SWEEP}'] .twist")
    assert len(names(p)) == 13  # the six trials right under their sweep
    rows = names(p)
    assert rows[rows.index("tune") + 1].startswith("tune-")
    for rid in sample.TRIALS[:2]:
        p.check(f".rt-row[data-id='{rid}'] input[type=checkbox]")
    assert p.inner_text("button.primary") == "Compare (2)"
    tab.shot("runs", keep=True)
    p.click(".rt-h[data-col='params.layers']")  # ascending; runs without the param last
    assert names(p)[:4] == ["lr-0", "lr-1", "lr-2", "lr-3"]
    # constant columns are hidden; showing them brings optimizer... stays (it varies)
    assert p.locator(".rt-h[data-col='params.optimizer']").count() == 1


def test_metric_summary_column(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/?filter=" + quote("params.layers = '2'"))
    p.wait_for_selector(".rt-row")
    cell = ".rt-row .rt-cell:nth-child(%d)"
    col = p.locator(".rt-h").all()
    idx = [c.get_attribute("data-col") for c in col].index("metrics.loss") + 1
    assert p.inner_text(cell % idx) == "0.046883"  # last
    p.select_option(".rt-h[data-col='metrics.loss'] select", "max")
    p.wait_for_function(f"document.querySelector('{cell % idx}').textContent === '1.01'")


def test_filter_with_or_and_a_bad_filter(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/?filter=" + quote("params.layers = '2' or params.layers = '5'"))
    p.wait_for_selector(".rt-row")
    assert sorted(names(p)) == ["lr-0", "lr-3"]
    tab.expected.append("status of 400")  # the API's answer to the bad filter
    p.fill("input.filter", "metrics.loss >> 1")
    p.keyboard.press("Enter")
    p.wait_for_selector("div.error:not(:empty)")
    assert "column" in p.inner_text("div.error")


def test_run_page(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/runs/" + sample.PLAIN[0][:8])
    p.wait_for_selector(".chart[data-drawn='1']")
    # The output log's tail arrives by its own request, maybe after the charts.
    p.wait_for_function("document.querySelector('main').innerText.includes('epoch 19 loss')")
    text = p.inner_text("main")
    for expected in (
        "lr-0",
        "optimizer",
        "adam",
        "0.046883",
        "c0ffee0",
        "python train.py",
        "epoch 19 loss 0.050",
    ):
        assert expected in text
    charts = p.locator(".chart[data-series]")
    p.wait_for_function("document.querySelectorAll('.chart[data-drawn]').length === 2")
    assert [c.get_attribute("data-series") for c in charts.all()] == ["1", "1"]
    assert [c.get_attribute("data-points") for c in charts.all()] == ["100", "100"]
    first = charts.first
    first.locator("select").select_option("time")  # metric against time: fetched again
    p.wait_for_function("document.querySelector('.chart .pts').innerText.startsWith('100 points')")
    first.locator("input[type=checkbox]").check()  # log scale
    assert first.get_attribute("data-points") == "100"
    row = p.locator("tr", has_text="table.csv")
    row.locator("button").click()
    p.wait_for_selector(".preview-box table.plain")
    assert p.locator(".preview-box table.plain tbody tr").count() == 50
    p.locator("tr", has_text="report.html").locator("button").click()
    tab.expected.append("frame is sandboxed")  # the artifact's script was refused
    frame = p.wait_for_selector("iframe.preview")
    assert frame.get_attribute("sandbox") == ""
    p.wait_for_function("document.querySelector('iframe.preview').contentDocument === null")
    inner = frame.content_frame()
    assert inner is not None
    inner.wait_for_selector("h1")
    assert inner.inner_text("body") == "Report"  # shown, its script refused
    assert p.title() != "pwned"
    p.locator("tr", has_text="big.log").locator("button").click()
    p.wait_for_selector("text=preview cut at its first part")
    assert p.locator("a[download]").count() == 8
    tab.shot("run", keep=True, full=True)


def test_long_series_is_downsampled_and_zoom_gets_full_resolution(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/runs/" + sample.LONG)
    chart = p.wait_for_selector(".chart[data-drawn='1']")
    points = int(chart.get_attribute("data-points") or 0)
    assert 50 < points < 2_000  # per pixel bucket, not 20,000
    assert f"of {sample.LONG_POINTS:,}" in chart.inner_text()
    box = p.locator(".chart canvas").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    p.mouse.move(box["x"] + 60, y)
    p.mouse.down()
    p.mouse.move(box["x"] + 70, y, steps=3)
    p.mouse.up()
    p.wait_for_function("document.querySelector('.chart').innerText.includes('zoomed')")
    assert "zoomed" in chart.inner_text()
    tab.shot("zoom")


def test_compare(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/")
    p.wait_for_selector(".rt-row")
    for rid in sample.PLAIN:
        p.check(f".rt-row[data-id='{rid}'] input[type=checkbox]")
    with p.expect_navigation():
        p.click("text=Compare (4)")
    p.wait_for_function("document.querySelectorAll('.chart[data-drawn]').length >= 2")
    series = [c.get_attribute("data-series") for c in p.locator(".charts .chart").all()]
    assert series == ["4", "4"]
    diff = p.locator(".panel table.plain tbody tr")
    assert diff.count() == 3  # layers, lr, loss differ; optimizer and accuracy do not
    p.uncheck("text=only differences")
    assert diff.count() == 5
    assert p.locator("canvas").count() >= 4  # two charts, a scatter, parallel coordinates
    tab.shot("compare", keep=True, full=True)


def test_sweep_page(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/sweeps/" + sample.SWEEP[:8])
    p.wait_for_selector(".rt-row.best")
    p.locator(".chart", has_text="by lr").scroll_into_view_if_needed()
    assert p.inner_text(".rt-row.best .name") == "tune-0"
    assert "best tune-0" in p.inner_text("main")
    p.wait_for_function(
        "[...document.querySelectorAll('.chart')].some(c => c.innerText.includes('by lr') && c.dataset.drawn)"
    )
    grouped = p.locator(".chart", has_text="by lr")
    assert grouped.get_attribute("data-series") == "2"  # lr=0.01 and lr=0.1, 3 seeds each
    assert "lr=0.1 (3)" in grouped.inner_text()
    pc = p.locator(".chart", has_text="parallel coordinates")
    assert pc.get_attribute("data-selected") == "6"
    box = pc.locator("canvas").bounding_box()
    assert box is not None
    x = box["x"] + 40  # the first axis
    p.mouse.move(x, box["y"] + 15)
    p.mouse.down()
    p.mouse.move(x, box["y"] + 60, steps=4)
    p.mouse.up()
    assert pc.get_attribute("data-selected") == "3"  # lr = 0.1 only
    tab.shot("sweep", keep=True, full=True)


def test_live_run_page_and_table(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/runs/" + sample.RUNNING_ID)
    p.wait_for_selector(".chart[data-drawn='1']")
    assert p.locator(".chart").first.get_attribute("data-points") == "10"
    store = SqliteStore(ui_server.root)
    try:
        store.log_batch(sample.RUNNING_ID, metrics=sample.curve("loss", 2.0, 30, sample.T0)[10:])
        with (store.artifact_dir(sample.RUNNING_ID) / OUTPUT_LOG).open("a") as f:
            f.write("epoch 2 arrived live\n")
        p.wait_for_selector("text=epoch 2 arrived live")
        p.wait_for_function("document.querySelector('.chart').dataset.points === '30'")
        # a new run appears in the table by itself
        p.goto(ui_server.url + "/")
        p.wait_for_selector(".rt-row")
        store.create_runs(
            [
                NewRun(
                    "8" * 32,
                    "1",
                    "newcomer",
                    "ana",
                    "python t.py",
                    {},
                    {T.RUN_NAME: "newcomer"},
                    sample.T0 + 99 * 60_000,
                    RUNNING,
                )
            ]
        )
        p.wait_for_selector(".rt-row >> text=newcomer")
        store.set_terminated("8" * 32, FINISHED, sample.T0 + 100 * 60_000, 0)
        p.wait_for_selector(f".rt-row[data-id='{'8' * 32}'] .badge.s-FINISHED")
        store.log_batch("8" * 32, metrics=[Metric("loss", 0.5, 0, sample.T0)])
    finally:
        store.close()


def test_models_page(ui_server: Ui, tab: Page) -> None:
    p = tab.page
    p.goto(ui_server.url + "/models")
    p.wait_for_selector(".panel.model")
    text = p.inner_text("main")
    assert "iris-clf" in text and "2 versions" in text and "@champion" in text
    assert p.locator(".panel.model tbody tr").count() == 2
    assert p.locator(".panel.model a").first.get_attribute("href") == "/runs/" + sample.PLAIN[1]
    tab.shot("models", keep=True)


def test_report_is_self_contained(ui_server: Ui, tab: Page, tmp_path: Path) -> None:
    out = tmp_path / "sweep.html"
    subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "report", sample.SWEEP[:8], "-o", str(out),
         "--tracking-uri", str(ui_server.root)],
        check=True, capture_output=True,
    )  # fmt: skip
    html = out.read_text()
    assert "/static/" not in html and "http://" not in html.replace("http://www.w3.org", "")
    requests: list[str] = []
    tab.page.on("request", lambda r: requests.append(r.url))
    tab.page.goto(out.as_uri())
    tab.page.wait_for_selector(".rt-row.best")
    tab.page.locator(".chart", has_text="by lr").scroll_into_view_if_needed()
    tab.page.wait_for_function(
        "[...document.querySelectorAll('.chart')].some(c => c.innerText.includes('by lr') && c.dataset.drawn)"
    )
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    tab.shot("report")
