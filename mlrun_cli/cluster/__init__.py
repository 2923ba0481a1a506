"""Runs performed by a cluster backend: the run-folder contract between submitter and node.

The submitting machine owns the store. It creates the run SCHEDULED, stages an exact snapshot
of the source, builds the environment into the shared cache, writes ``job/job.json`` into the
run folder and submits ``mlrun _exec`` through a `ClusterBackend` (`submit`). The node never
opens the store (SQLite over a network filesystem is not safe); it performs the run's prepare
and launch steps and writes files into the run folder instead (`node`, `files`). The submitting
side reads those files back, with one batched scheduler poll for the state (`reconcile`), and
follows or cancels runs (`follow`). Nothing here names a particular backend.
"""
