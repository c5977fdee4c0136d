"""Write `.env.example` from the settings classes, so the documented defaults are the real ones.

`python -m scripts.env_example` rewrites it; `--check` fails when it is stale.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".env.example"

# (service, settings module, class): the order the file lists them in.
SETTINGS = [
    ("gateway", "services.gateway.settings", "GatewaySettings"),
    ("chat", "services.chat.settings", "ChatSettings"),
    ("retrieval", "services.retrieval.settings", "RetrievalSettings"),
    ("store", "services.store.settings", "StoreSettings"),
]


def env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables that set `field`, in the order they are looked up."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c).upper() for c in choices]
    if isinstance(alias, str):
        return [alias.upper()]
    prefix = cls.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper()]


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, Path) and value.is_relative_to(ROOT):
        return str(value.relative_to(ROOT))  # the same file on every checkout
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return str(value)


def available_settings() -> list[tuple[str, type[BaseSettings]]]:
    """Settings classes of the services present in this checkout."""
    found = []
    for service, module, cls_name in SETTINGS:
        try:
            found.append((service, getattr(importlib.import_module(module), cls_name)))
        except ModuleNotFoundError:
            continue
    return found


def render() -> str:
    lines = [
        "# Every setting of every service, with its default. Copy to .env, change what you need.",
        "# Written by `python -m scripts.env_example` from the settings classes: don't edit.",
    ]
    seen: set[str] = set()
    for service, cls in available_settings():
        lines += ["", f"# --- {service} " + "-" * (60 - len(service))]
        for name, field in cls.model_fields.items():
            names = env_names(cls, name, field)
            if names[-1] in seen:  # shared variables (INTERNAL_TOKEN, DATABASE_URL ...) once
                continue
            seen.add(names[-1])
            doc = (field.description or "").replace("\n", " ")
            also = f" (also {', '.join(names[:-1])})" if len(names) > 1 else ""
            lines.append(f"# {doc}{also}")
            lines.append(f"# {names[-1]}={_default(field)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(".env.example is stale: run `python -m scripts.env_example`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
