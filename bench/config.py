"""Run-wide benchmark settings: quick mode (`python -m bench --quick` or `BENCH_QUICK=1`)."""

from __future__ import annotations

import os

QUICK_ENV = "BENCH_QUICK"


def quick() -> bool:
    """Whether this run is a smoke run with every benchmark shrunk."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def scaled(full: int, small: int, env: str | None = None) -> int:
    """`full`, or `small` in quick mode; the variable `env`, when set, overrides both."""
    if env and os.environ.get(env):
        return int(os.environ[env])
    return small if quick() else full
