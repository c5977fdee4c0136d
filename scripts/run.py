"""`make run`: start every service as its own process under honcho, with prefixed logs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ)
    for prefix in ("GATEWAY", "CHAT", "RETRIEVAL", "STORE"):
        env.setdefault(f"{prefix}_LOG_JSON", "false")  # plain lines read better in a terminal
    # The demo book is ingested in the background on first start (when its corpus is empty).
    env.setdefault("RETRIEVAL_INGEST_ON_START", "docs/book")
    # honcho runs each Procfile line with this interpreter's venv first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    honcho = Path(sys.executable).parent / "honcho"
    os.execve(honcho, [str(honcho), "start", "-f", "Procfile"], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
