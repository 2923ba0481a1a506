"""The `mlrun` command's entry point.

`mlrun run` of a local project with plain options is the hot path, run by people and CI many
times a day: it is parsed here without click (`cli.fast`), so a warm run imports neither
click nor anything it does not use. Everything else, and anything the fast parser does not
fully understand (help, errors, other commands, cluster backends), goes to the click group,
which gives the same result for the same arguments.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if os.environ.get("MLRUN_NO_FAST_PATH") != "1":
        from mlrun_cli.cli.fast import parse_run, run_fast

        parsed = parse_run(sys.argv[1:])
        if parsed is not None:
            sys.exit(run_fast(parsed))
    from mlrun_cli.cli.app import main as click_main

    click_main()
