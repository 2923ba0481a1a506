"""`mlrun report`: one self-contained HTML file with the view's page and its data inlined.

The page is the live view's own HTML, CSS and JS; the answers its API calls would get are
computed here, through the same `Api`, and stored in the file under the path the page asks
for. Metric series are inlined downsampled (`SERIES_BUCKETS` buckets keeping min and max), so
a report of long histories stays small; a zoom in a report shows those buckets.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from mlrun_cli import tags as T
from mlrun_cli.errors import MlrunError
from mlrun_cli.store.base import RunIndex
from mlrun_cli.ui.api import Api, dumps, split_or
from mlrun_cli.ui.detail import log_tail
from mlrun_cli.ui.server import static_files

SERIES_BUCKETS = 1000
MAX_RUNS = 100  # runs in one report of a filter: the compare page's charts hold each one


class ReportError(MlrunError):
    """What was asked for cannot make a report."""


def _series(index: RunIndex, data: dict[str, object], run_ids: list[str], keys: list[str]) -> None:
    for rid in run_ids:
        for key in keys:
            data[f"series:{rid}:{key}"] = index.metric_buckets(rid, key, SERIES_BUCKETS)


def _metric_keys(table: dict[str, object]) -> list[str]:
    metrics = table.get("metrics")
    return sorted(metrics) if isinstance(metrics, dict) else []


def collect_run(index: RunIndex, ref: str) -> dict[str, object]:
    """The page and data of a report on one run, or on a sweep (its sweep page)."""
    api = Api(index)
    run_id = index.resolve_run_id(ref)
    run = index.get_run(run_id)
    data: dict[str, object] = {}
    if T.SWEEP in run.tags or index.tagged(T.SWEEP_ID, run_id):
        sweep = api.sweep([run_id], {})
        assert isinstance(sweep, dict)
        trials = sweep["trials"]
        assert isinstance(trials, dict)
        data[f"sweep/{run_id}"] = sweep
        _series(index, data, list(trials["ids"]), _metric_keys(trials))
        return {"page": f"/sweeps/{run_id}", "data": data, "title": f"sweep {run.name}"}
    detail = api.run([run_id], {})
    assert isinstance(detail, dict)
    detail["log"] = log_tail(index, run_id, None)
    data[f"run/{run_id}"] = detail
    _series(index, data, [run_id], sorted(run.metrics))
    return {"page": f"/runs/{run_id}", "data": data, "title": f"run {run.name}"}


def collect_filter(
    index: RunIndex, filter_string: str, experiment_ids: list[str]
) -> dict[str, object]:
    """The page and data of a report comparing the runs a filter matches."""
    table = index.run_table(experiment_ids, split_or(filter_string))
    ids = [str(i) for i in table["ids"]]  # type: ignore[attr-defined]
    if not ids:
        raise ReportError(f"no run matches {filter_string!r}; see 'mlrun runs list --filter'")
    if len(ids) > MAX_RUNS:
        raise ReportError(
            f"{len(ids)} runs match {filter_string!r}; a report compares at most {MAX_RUNS}: "
            "narrow the filter"
        )
    joined = ",".join(ids)
    data: dict[str, object] = {
        f"runs?ids={quote(joined, safe='')}": index.run_table([], (), True, ids)
    }
    _series(index, data, ids, _metric_keys(table))
    return {"page": f"/compare?runs={joined}", "data": data, "title": f"{len(ids)} runs"}


def render(report: dict[str, object]) -> str:
    """The report as one HTML file: the page's CSS and scripts inline, then the data."""
    files = static_files()
    html = files["index.html"].decode()
    html = html.replace("__MLRUN_TOKEN__", "")
    html = html.replace(
        "<title>mlrun</title>", f"<title>mlrun report: {_text(report['title'])}</title>"
    )
    css = files["app.css"].decode()
    html = html.replace('<link rel="stylesheet" href="/static/app.css">', f"<style>\n{css}</style>")
    payload = {**report, "created": time.strftime("%Y-%m-%d %H:%M %Z"), "links": []}
    # "</" never appears inside a script element's text: the data cannot end the element.
    blob = dumps(payload).decode().replace("</", "<\\/")
    scripts = f"<script>window.MLRUN_REPORT = {blob};</script>\n"
    for name in sorted(files):
        tag = f'<script src="/static/{name}"></script>'
        if tag in html:
            source = files[name].decode().replace("</script", "<\\/script")
            html = html.replace(tag, f"<script>\n{source}</script>")
    return html.replace("<script>\n", scripts + "<script>\n", 1)


def _text(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(report: dict[str, object], target: Path) -> int:
    """Write the report to `target` (whole or not at all); its size in bytes."""
    body = render(report).encode()
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(body)
    tmp.replace(target)
    return len(body)
