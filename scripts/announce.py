"""The `ready` line of `make run`: wait until every service answers `/readyz`, print where to go.

It then idles, because honcho stops the whole group when any one process ends.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx

SERVICES = {  # name: (port variable, default port)
    "store": ("STORE_PORT", 8103),
    "retrieval": ("RETRIEVAL_PORT", 8102),
    "chat": ("CHAT_PORT", 8101),
    "gateway": ("GATEWAY_PORT", 8100),
}
TIMEOUT_S = 600


def port(name: str) -> int:
    variable, default = SERVICES[name]
    return int(os.environ.get(variable, default))


def wait_ready(name: str, deadline: float) -> float:
    url = f"http://127.0.0.1:{port(name)}/readyz"
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{name} did not become ready at {url}")


def main() -> int:
    started = time.monotonic()
    deadline = started + TIMEOUT_S
    try:
        for name in SERVICES:
            wait_ready(name, deadline)
            print(f"{name:<10} ready after {time.monotonic() - started:5.1f} s", flush=True)
    except TimeoutError as exc:
        print(f"not ready: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        f"\n  ChatKit platform is up: open http://127.0.0.1:{port('gateway')}/\n"
        "  (Ctrl-C stops every service and the embedded database)\n",
        flush=True,
    )
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
