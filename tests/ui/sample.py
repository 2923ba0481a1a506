"""A store with what every page of the view shows: plain runs, a sweep of trials, a running
run, artifacts of each previewed kind. Written through the store's public API."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from mlrun_cli import tags as T
from mlrun_cli.paths import OUTPUT_LOG
from mlrun_cli.store.base import FINISHED, RUNNING, Metric, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

T0 = (int(time.time()) // 3600 - 3) * 3_600_000  # three hours ago, on the hour
SWEEP = "5" * 32
RUNNING_ID = "9" * 32
LONG = "7" * 32  # one run with a long history
LONG_POINTS = 20_000
PLAIN = [f"{i:02d}" + "a" * 30 for i in range(4)]  # four plain runs
TRIALS = [f"{i:02d}" + "b" * 30 for i in range(6)]  # six trials of the sweep
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f80f0000010101001a0bb2e50000000049454e44ae426082"
)


def new(
    run_id: str,
    exp: str,
    name: str,
    params: dict[str, str],
    tags: dict[str, str],
    i: int,
    status: str = FINISHED,
) -> NewRun:
    return NewRun(
        run_id=run_id,
        experiment_id=exp,
        name=name,
        user="ana",
        command="python train.py",
        params=params,
        tags={T.RUN_NAME: name, **tags},
        start_time=T0 + i * 60_000,
        status=status,
    )


def curve(key: str, scale: float, steps: int, start: int) -> list[Metric]:
    return [Metric(key, scale * math.exp(-s / 30) + 0.01, s, start + s * 10) for s in range(steps)]


def build(root: Path) -> SqliteStore:
    """The sample store at `root` (left open: the caller closes it)."""
    store = SqliteStore(root)
    exp = store.create_experiment("demo").experiment_id
    plain = [
        new(
            rid,
            exp,
            f"lr-{n}",
            {"lr": str(0.1 / (n + 1)), "optimizer": "adam", "layers": str(2 + n)},
            {
                T.SOURCE_NAME: "/src/proj",
                T.GIT_COMMIT: "c0ffee" + str(n) * 34,
                T.GIT_BRANCH: "main",
                T.GIT_DIRTY: "false",
            },
            n,
        )
        for n, rid in enumerate(PLAIN)
    ]
    sweep = new(
        SWEEP,
        exp,
        "tune",
        {},
        {
            T.SWEEP: "1",
            T.SWEEP_METRIC: "loss",
            T.SWEEP_GOAL: "minimize",
            T.SWEEP_METHOD: "grid",
            T.SWEEP_COUNT: "6",
        },
        10,
    )
    trials = [
        new(
            rid,
            exp,
            f"tune-{n}",
            {"lr": str([0.1, 0.01][n % 2]), "seed": str(n // 2), "optimizer": "sgd"},
            {T.SWEEP_ID: SWEEP, T.PARENT_RUN: SWEEP, T.SWEEP_INDEX: str(n)},
            11 + n,
        )
        for n, rid in enumerate(TRIALS)
    ]
    running = new(RUNNING_ID, exp, "live", {"lr": "0.5"}, {}, 30, status=RUNNING)
    long = new(LONG, "0", "long", {}, {}, 40)
    store.create_runs([*plain, sweep, *trials, running, long])
    spiky = [
        Metric("loss", 9.0 if s == 12_345 else 1.0 / (1 + s / 100), s, T0 + s)
        for s in range(LONG_POINTS)
    ]
    store.log_batch(LONG, metrics=spiky)
    store.set_terminated(LONG, FINISHED, T0 + 41 * 60_000, 0)
    for n, rid in enumerate(PLAIN):
        start = T0 + n * 60_000
        store.log_batch(
            rid, metrics=curve("loss", 1.0 + n, 100, start) + curve("accuracy", -0.5, 100, start)
        )
        store.set_terminated(rid, FINISHED, start + 5_000, 0)
    for n, rid in enumerate(TRIALS):
        start = T0 + (11 + n) * 60_000
        store.log_batch(rid, metrics=curve("loss", 0.5 + n * 0.2, 50, start))
        store.set_terminated(rid, FINISHED, start + 3_000, 0)
    store.log_batch(SWEEP, tags={T.SWEEP_BEST_RUN: TRIALS[0]})
    store.set_terminated(SWEEP, FINISHED, T0 + 20 * 60_000, 0)
    store.log_batch(RUNNING_ID, metrics=curve("loss", 2.0, 10, T0 + 30 * 60_000))
    artifacts(store, PLAIN[0])
    registry = store.registry()
    registry.create_registered_model("iris-clf", description="the classifier")
    for rid in PLAIN[:2]:
        registry.create_model_version("iris-clf", f"runs:/{rid}/model", run_id=rid)
    registry.set_alias("iris-clf", "champion", "2")
    (store.artifact_dir(RUNNING_ID) / OUTPUT_LOG).write_text("epoch 1\n")
    return store


def artifacts(store: SqliteStore, run_id: str) -> None:
    root = store.artifact_dir(run_id)
    (root / "notes.txt").write_text("hello from the run\n" * 3)
    (root / "big.log").write_text("line\n" * 100_000)
    (root / "summary.json").write_text(json.dumps({"best": 0.93, "epochs": [1, 2, 3]}))
    (root / "table.csv").write_text(
        "epoch,loss\n" + "".join(f"{i},{1 / (i + 1):.4f}\n" for i in range(200))
    )
    (root / "plot.png").write_bytes(PNG_1PX)
    (root / "report.html").write_text(
        "<h1>Report</h1><script>parent.document.title='pwned'</script>"
    )
    (root / "source").mkdir()
    (root / "source" / "uncommitted.patch").write_text(
        "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-lr = 1\n+lr = 2\n"
    )
    (root / OUTPUT_LOG).write_text(
        "".join(f"epoch {i} loss {1 / (i + 1):.3f}\n" for i in range(20))
    )
