"""Render a kustomization (`base`, `overlays/dev`, `overlays/prod`) without the kustomize binary.

    python -m deploy.k8s.render overlays/dev            # print the rendered YAML
    python -m deploy.k8s.render overlays/prod --engine kubectl

A small kustomize-equivalent for exactly the features these manifests use, so the tests
run where neither `kustomize` nor `kubectl` is installed:

- `resources`: files (one or more YAML documents) and directories holding a kustomization;
- `patches`: strategic-merge patches (lists merged by their Kubernetes merge keys, patch
  items first, `$patch: delete`, `null` deleting a field) and JSON 6902 patches, from a
  `path` or an inline `patch`, aimed by the patch's own kind/name or by a `target`;
- `images`: `newName`, `newTag`, `digest`;
- `namespace`;
- `secretGenerator` / `configMapGenerator` from `literals`, with
  `options.disableNameSuffixHash: true` (name-hash references are not rewritten here).

Anything else in a kustomization is refused rather than silently ignored. When `kubectl`
is installed the tests also render with `kubectl kustomize` and require the same objects.
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
"""`deploy/k8s`: relative paths given to `render` are looked up here when not found as given."""

Manifest = dict[str, Any]
Key = tuple[str, str, str]
"""(kind, namespace, name) of one object."""

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "patches",
        "images",
        "namespace",
        "secretGenerator",
        "configMapGenerator",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
    }
)
# Merge keys of the lists the strategic-merge patches here touch (from the Kubernetes API's
# `x-kubernetes-patch-merge-key`); any other list is replaced whole, as kustomize does.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "volumeClaimTemplates": None,  # atomic
}
# kustomize's default ("legacy") output order: these kinds first, in this order, then the
# rest by kind, then webhooks last.
ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


class RenderError(Exception):
    """The kustomization is invalid or uses a feature this renderer does not implement."""


# -- public API -------------------------------------------------------------------


def resolve(path: str | Path) -> Path:
    """`path` as given when it exists, else relative to `deploy/k8s`."""
    candidate = Path(path)
    if candidate.exists() or candidate.is_absolute():
        return candidate.resolve()
    return (K8S_DIR / candidate).resolve()


def render(path: str | Path, engine: str = "python") -> list[Manifest]:
    """The objects a kustomization renders to, in kustomize's output order."""
    directory = resolve(path)
    if engine == "python":
        return sort_manifests(build(directory))
    if engine == "kubectl":
        return render_with_binary(directory)
    raise ValueError(f"unknown engine {engine!r} (python or kubectl)")


def kustomize_command() -> list[str] | None:
    """`kustomize build` or `kubectl kustomize`, whichever is installed, else None."""
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    return None


def render_with_binary(directory: Path) -> list[Manifest]:
    """Render with the real kustomize (standalone or built into kubectl)."""
    command = kustomize_command()
    if command is None:
        raise RenderError("neither kustomize nor kubectl is installed")
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"{' '.join(command)} {directory} failed:\n{result.stderr}")
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for doc in docs:
        if doc["kind"] == "Secret":  # kustomize wraps long base64 values over lines
            doc["data"] = {
                k: base64.b64encode(base64.b64decode(v)).decode()
                for k, v in (doc.get("data") or {}).items()
            }
    return docs


def to_yaml(manifests: Iterable[Manifest]) -> str:
    """Multi-document YAML, keys sorted as kustomize prints them."""
    return "---\n".join(
        yaml.safe_dump(m, sort_keys=True, default_flow_style=False) for m in manifests
    )


def key_of(manifest: Manifest) -> Key:
    meta = manifest.get("metadata") or {}
    return (manifest["kind"], meta.get("namespace", ""), meta["name"])


def sort_manifests(manifests: Iterable[Manifest]) -> list[Manifest]:
    def rank(manifest: Manifest) -> tuple[int, str, str, str]:
        kind, namespace, name = key_of(manifest)
        if kind in ORDER_FIRST:
            group = ORDER_FIRST.index(kind)
        elif kind in ORDER_LAST:
            group = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
        else:
            group = len(ORDER_FIRST)
        return (group, kind, namespace, name)

    return sorted(manifests, key=rank)


# -- building ---------------------------------------------------------------------


def load_kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        file = directory / name
        if file.is_file():
            data = yaml.safe_load(file.read_text()) or {}
            if not isinstance(data, dict):
                raise RenderError(f"{file}: not a mapping")
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise RenderError(f"{file}: unsupported kustomization fields {sorted(unknown)}")
            return data
    raise RenderError(f"{directory}: no kustomization file")


def load_documents(file: Path) -> list[Manifest]:
    docs = [doc for doc in yaml.safe_load_all(file.read_text()) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise RenderError(f"{file}: every document must be an object with kind and metadata")
    return docs


def build(directory: Path) -> list[Manifest]:
    """Render one kustomization directory (recursively through its resources)."""
    kustomization = load_kustomization(directory)
    resources: list[Manifest] = []
    for entry in kustomization.get("resources") or []:
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(build(target))
        elif target.is_file():
            resources.extend(load_documents(target))
        else:
            raise RenderError(f"{directory}: resource {entry!r} not found")
    for generator, kind in (("secretGenerator", "Secret"), ("configMapGenerator", "ConfigMap")):
        for spec in kustomization.get(generator) or []:
            resources.append(generate(spec, kind, directory))
    check_unique(resources, directory)
    for patch in kustomization.get("patches") or []:
        apply_patch(resources, patch, directory)
    if namespace := kustomization.get("namespace"):
        set_namespace(resources, namespace)
    for image in kustomization.get("images") or []:
        set_image(resources, image)
    check_unique(resources, directory)
    return resources


def check_unique(resources: Sequence[Manifest], directory: Path) -> None:
    seen: set[Key] = set()
    for manifest in resources:
        key = key_of(manifest)
        if key in seen:
            raise RenderError(f"{directory}: {key} defined twice")
        seen.add(key)


def generate(spec: dict[str, Any], kind: str, directory: Path) -> Manifest:
    unsupported = set(spec) - {"name", "literals", "options", "type"}
    if unsupported:
        raise RenderError(f"{directory}: {kind} generator fields {sorted(unsupported)}")
    if not (spec.get("options") or {}).get("disableNameSuffixHash"):
        raise RenderError(
            f"{directory}: generator {spec.get('name')!r} needs options.disableNameSuffixHash:"
            " true (this renderer does not rewrite hashed names)"
        )
    values: dict[str, str] = {}
    for literal in spec.get("literals") or []:
        name, sep, value = literal.partition("=")
        if not sep:
            raise RenderError(f"{directory}: literal {literal!r} is not KEY=VALUE")
        values[name] = value
    manifest: Manifest = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        manifest["type"] = spec.get("type", "Opaque")
        manifest["data"] = {
            k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())
        }
    else:
        manifest["data"] = dict(sorted(values.items()))
    return manifest


# -- patches ----------------------------------------------------------------------


def apply_patch(resources: list[Manifest], entry: dict[str, Any], directory: Path) -> None:
    unsupported = set(entry) - {"path", "patch", "target"}
    if unsupported:
        raise RenderError(f"{directory}: patch fields {sorted(unsupported)}")
    if "path" in entry:
        text = (directory / entry["path"]).read_text()
    elif "patch" in entry:
        text = entry["patch"]
    else:
        raise RenderError(f"{directory}: a patch needs `path` or `patch`")
    body = yaml.safe_load(text)
    target = entry.get("target")
    if isinstance(body, list):  # JSON 6902
        if not target:
            raise RenderError(f"{directory}: a JSON 6902 patch needs a target")
        for index in select(resources, target):
            resources[index] = json_patch(resources[index], body)
        return
    if not isinstance(body, dict):
        raise RenderError(f"{directory}: a patch must be a mapping or a list of operations")
    if target is None:
        target = {"kind": body.get("kind"), "name": (body.get("metadata") or {}).get("name")}
    for index in select(resources, target):
        patch = copy.deepcopy(body)
        if entry.get("target"):  # the selector aims it: the patch's own name does not count
            patch.pop("metadata", None)
            patch.pop("apiVersion", None)
            patch.pop("kind", None)
        resources[index] = strategic_merge(resources[index], patch)


def select(resources: Sequence[Manifest], target: dict[str, Any]) -> list[int]:
    """Positions of the resources a patch target selects (at least one)."""
    unsupported = set(target) - {"kind", "name", "namespace", "group", "version", "labelSelector"}
    if unsupported:
        raise RenderError(f"patch target fields {sorted(unsupported)}")
    selector = dict(
        pair.split("=", 1) for pair in (target.get("labelSelector") or "").split(",") if pair
    )
    matches = []
    for index, manifest in enumerate(resources):
        kind, namespace, name = key_of(manifest)
        group, _, version = manifest["apiVersion"].rpartition("/")
        if target.get("kind") and not re.fullmatch(target["kind"], kind):
            continue
        if target.get("name") and not re.fullmatch(target["name"], name):
            continue
        if target.get("namespace") and target["namespace"] != namespace:
            continue
        if "group" in target and target["group"] != group:
            continue
        if target.get("version") and target["version"] != version:
            continue
        labels = (manifest["metadata"].get("labels")) or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        matches.append(index)
    if not matches:
        raise RenderError(f"patch target {target} matches no resource")
    return matches


def strategic_merge(original: Any, patch: Any) -> Any:
    """Kubernetes strategic merge of `patch` into `original` (a new object is returned)."""
    if not isinstance(patch, dict) or not isinstance(original, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive is not None:
        raise RenderError(f"unsupported $patch directive {directive!r} on a mapping")
    merged = copy.deepcopy(original)
    for field, value in patch.items():
        if value is None:
            merged.pop(field, None)
        elif isinstance(value, dict) and isinstance(merged.get(field), dict):
            merged[field] = strategic_merge(merged[field], value)
        elif isinstance(value, list) and isinstance(merged.get(field), list):
            merged[field] = merge_list(field, merged[field], value)
        else:
            merged[field] = strip_directives(value)
    return merged


def merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field == "ports" and all(isinstance(p, dict) for p in original + patch):
        key = "containerPort" if any("containerPort" in p for p in original) else "port"
    if key is None or not all(isinstance(item, dict) for item in original + patch):
        return strip_directives(patch)
    by_key = {item.get(key): item for item in original}
    result: list[Any] = []
    used: set[Any] = set()
    # kustomize (like the API server) puts the patch's items first, in the patch's order,
    # then the original items the patch did not mention.
    for item in patch:
        name = item.get(key)
        if item.get("$patch") == "delete":
            used.add(name)
            continue
        if name in by_key:
            result.append(strategic_merge(by_key[name], item))
            used.add(name)
        else:
            result.append(strip_directives(item))
    result.extend(copy.deepcopy(item) for item in original if item.get(key) not in used)
    return result


def strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        if "$patch" in value:
            raise RenderError(f"$patch directive where nothing is merged: {value}")
        return {k: strip_directives(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(manifest: Manifest, operations: list[dict[str, Any]]) -> Manifest:
    """RFC 6902 `add`, `remove`, `replace` and `test`."""
    document = copy.deepcopy(manifest)
    for op in operations:
        parts = _pointer(op["path"])
        parent = _walk(document, parts[:-1])
        last = parts[-1]
        try:
            if op["op"] == "test":
                if _walk(document, parts) != op["value"]:
                    raise RenderError(f"JSON patch test failed at {op['path']}")
            elif op["op"] == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif op["op"] == "replace":
                index: int | str = int(last) if isinstance(parent, list) else last
                if isinstance(parent, dict) and last not in parent:
                    raise RenderError(f"JSON patch replace of missing {op['path']}")
                parent[index] = copy.deepcopy(op["value"])
            elif op["op"] == "add":
                if isinstance(parent, list):
                    position = len(parent) if last == "-" else int(last)
                    parent.insert(position, copy.deepcopy(op["value"]))
                else:
                    parent[last] = copy.deepcopy(op["value"])
            else:
                raise RenderError(f"unsupported JSON patch op {op['op']!r}")
        except (KeyError, IndexError, ValueError) as exc:
            raise RenderError(f"JSON patch {op} failed on {key_of(manifest)}: {exc}") from exc
    return document


# -- transformers -----------------------------------------------------------------


def set_namespace(resources: list[Manifest], namespace: str) -> None:
    for manifest in resources:
        if manifest["kind"] == "Namespace":
            # kustomize renames Namespace objects to the namespace it sets
            manifest["metadata"]["name"] = namespace
        elif manifest["kind"] not in CLUSTER_SCOPED_KINDS:
            manifest["metadata"]["namespace"] = namespace


def pod_specs(manifest: Manifest) -> list[dict[str, Any]]:
    spec = manifest.get("spec") or {}
    if manifest["kind"] == "Pod":
        return [spec]
    if manifest["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template") if isinstance(spec, dict) else None
    return [template["spec"]] if isinstance(template, dict) and "spec" in template else []


def containers_of(manifest: Manifest) -> list[dict[str, Any]]:
    """Every container (init containers included) of a workload object."""
    return [
        container
        for spec in pod_specs(manifest)
        for field in ("initContainers", "containers")
        for container in spec.get(field) or []
    ]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def set_image(resources: list[Manifest], entry: dict[str, Any]) -> None:
    unsupported = set(entry) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise RenderError(f"images fields {sorted(unsupported)}")
    for manifest in resources:
        for container in containers_of(manifest):
            name, tag, digest = split_image(container["image"])
            if name != entry["name"]:
                continue
            name = entry.get("newName", name)
            if "digest" in entry:
                tag, digest = None, entry["digest"]
            elif "newTag" in entry:
                tag, digest = str(entry["newTag"]), None
            suffix = (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
            container["image"] = name + suffix


# -- command line -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.k8s.render", description=__doc__)
    parser.add_argument("path", help="kustomization directory, e.g. overlays/dev")
    parser.add_argument(
        "--engine",
        choices=("python", "kubectl"),
        default="python",
        help="python (this module) or kubectl (`kustomize build` / `kubectl kustomize`)",
    )
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(to_yaml(render(args.path, args.engine)))
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
