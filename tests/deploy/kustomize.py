"""Render a kustomization with the real kustomize: `kubectl kustomize`, or `kustomize build`."""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"

Manifest = dict[str, Any]


def kustomize_command() -> list[str] | None:
    """The command that renders a kustomization directory, or None when none is installed."""
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    return None


@functools.cache
def render(directory: Path) -> str:
    """The YAML stream kustomize prints for `directory`; skips the test without kustomize."""
    command = kustomize_command()
    if command is None:
        pytest.skip(
            "kubectl not installed: neither `kubectl` nor `kustomize` is on PATH,"
            " so the manifests cannot be rendered (see deploy/k8s/README.md)"
        )
    command = [*command, str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(command)} failed:\n{result.stderr}")
    return result.stdout


def manifests(directory: Path) -> list[Manifest]:
    """The objects kustomize renders for `directory`, in its output order."""
    return [doc for doc in yaml.safe_load_all(render(directory)) if doc]
