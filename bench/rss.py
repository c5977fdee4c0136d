"""Resident memory of processes: one reading, or the peak sampled from a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

import psutil

MB = 1024 * 1024


def _tree(pid: int) -> list[psutil.Process]:
    """`pid` and its children (workers, helpers), looked up once: the walk is costly."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss_mb(tree: list[psutil.Process]) -> float:
    total = 0
    for process in tree:
        with suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / MB


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """RSS in MiB of each named process (its children included), now."""
    return {name: _rss_mb(_tree(pid)) for name, pid in pids.items()}


@contextmanager
def peak_rss(pids: Mapping[str, int], interval_s: float = 0.05) -> Iterator[dict[str, float]]:
    """Yield a dict that holds, once the block exits, each process's peak RSS (MiB) in it."""
    trees = {name: _tree(pid) for name, pid in pids.items()}
    peaks = {name: _rss_mb(tree) for name, tree in trees.items()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            for name, tree in trees.items():
                peaks[name] = max(peaks[name], _rss_mb(tree))

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()
