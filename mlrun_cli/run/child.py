"""Make `mlrun_cli.tracking` importable in any child, without our other dependencies.

The child may run in an environment where mlrun-cli is not installed (a project virtualenv,
another interpreter on PATH). We keep a tiny copy of the standard-library-only helper in the
cache and append it to the child's PYTHONPATH. Its ``mlrun_cli/__init__.py`` extends its
package path, so where the full mlrun-cli is installed too, its other modules still import.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from mlrun_cli.paths import tool_path

_INIT = '''"""The mlrun-cli child helper (see mlrun_cli.tracking)."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
'''


def helper_path() -> Path:
    """A directory to put on the child's PYTHONPATH; built once per helper version."""
    here = Path(__file__).resolve().parent.parent / "tracking"
    sources = {name: (here / name).read_bytes() for name in ("__init__.py", "client.py")}
    digest = hashlib.sha256(b"".join(sources.values()) + _INIT.encode()).hexdigest()[:16]
    root = tool_path("cache") / "child-helper" / digest
    if (root / "mlrun_cli" / "tracking" / "client.py").is_file():
        return root
    tmp = root.with_name(f"{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "mlrun_cli" / "tracking").mkdir(parents=True)
    (tmp / "mlrun_cli" / "__init__.py").write_text(_INIT)
    for name, data in sources.items():
        (tmp / "mlrun_cli" / "tracking" / name).write_bytes(data)
    try:
        os.replace(tmp, root)
    except OSError:
        # Another run published the same content first; theirs is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)
    return root
