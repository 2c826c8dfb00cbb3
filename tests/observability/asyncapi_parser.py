"""Running the official AsyncAPI parser (``@asyncapi/parser``, tools/asyncapi-check) on a
document, the way AsyncAPI tooling in any language would first read it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHECKER = Path(__file__).resolve().parents[2] / "tools" / "asyncapi-check"


def official_diagnostics(document: dict[str, Any]) -> dict[str, Any]:
    """``{"parsed": bool, "errors": [...], "warnings": [...], "others": [...]}`` for ``document``.

    Fails (never skips) without node or the checker's packages: CI (.ci/run) installs both.
    """
    node = shutil.which("node")
    assert node, "install Node.js (apt-get install -y nodejs npm) to run the AsyncAPI parser"
    assert (CHECKER / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        f"run `npm ci --prefix {CHECKER}` to install the AsyncAPI parser"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "asyncapi.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        run = subprocess.run(
            [node, str(CHECKER / "check.mjs"), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.stdout, f"the parser printed nothing (exit {run.returncode}): {run.stderr}"
    report: dict[str, Any] = json.loads(run.stdout)
    return report
