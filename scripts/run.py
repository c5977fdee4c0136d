"""`make run`: start every service as its own process under honcho, with prefixed logs."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import psutil

from shared.assertions import new_key_pair

ROOT = Path(__file__).resolve().parent.parent
RUN_FILE = ROOT / ".data" / "run.json"
# Every process of a run carries this variable; its value names the run.
MARK = "CHATKIT_RUN"
STOP_TIMEOUT_S = 20


def _processes_of(run: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK) == run:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def stop_leftovers() -> None:
    """End what an earlier run that was killed left running.

    honcho starts each service in a session of its own, so when the runner itself
    is killed (`kill -9`, a closed terminal) the services live on, holding their
    ports, the retrieval index and the embedded PostgreSQL. SIGTERM lets the store
    stop the database as on Ctrl-C.
    """
    try:
        previous = json.loads(RUN_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return
    left = _processes_of(previous["run"])
    if any(process.pid == previous["pid"] for process in left):
        sys.exit(f"another `make run` is running (pid {previous['pid']}); stop it first")
    for process in left:
        process.terminate()
    _, alive = psutil.wait_procs(left, timeout=STOP_TIMEOUT_S)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
    if left:
        print(f"stopped {len(left)} processes left by a run that was killed", file=sys.stderr)


def main() -> int:
    os.chdir(ROOT)
    stop_leftovers()
    run = uuid.uuid4().hex
    RUN_FILE.parent.mkdir(exist_ok=True)
    # exec keeps the pid: this process becomes honcho, the run's runner
    RUN_FILE.write_text(json.dumps({"pid": os.getpid(), "run": run}))
    env = dict(os.environ)
    env[MARK] = run
    for prefix in ("GATEWAY", "CHAT", "RETRIEVAL", "STORE"):
        env.setdefault(f"{prefix}_LOG_JSON", "false")  # plain lines read better in a terminal
    # Chat and store take a user only from the gateway's signed assertion: with no key pair
    # configured, this run gets one of its own.
    configured = Path(".env").read_text() if Path(".env").exists() else ""
    if not any(
        name in env or name in configured
        for name in ("USER_ASSERTION_PRIVATE_KEY", "USER_ASSERTION_PUBLIC_KEY")
    ):
        env["USER_ASSERTION_PRIVATE_KEY"], env["USER_ASSERTION_PUBLIC_KEY"] = new_key_pair()
    # The demo book is ingested in the background on first start (when its corpus is empty).
    env.setdefault("RETRIEVAL_INGEST_ON_START", "docs/book")
    # honcho runs each Procfile line with this interpreter's venv first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    honcho = Path(sys.executable).parent / "honcho"
    os.execve(honcho, [str(honcho), "start", "-f", "Procfile"], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
