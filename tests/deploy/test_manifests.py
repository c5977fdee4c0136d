"""The Kubernetes manifests and Dockerfiles: they render, validate and agree with the code.

Both overlays are rendered with the real kustomize (`kubectl kustomize`; skipped where
neither kubectl nor kustomize is installed), validated against the Kubernetes schemas
(`kubernetes-validate`, strict), checked against the services' settings classes (env var
names, ports, internal URLs), checked for the labels and the hardening the platform
requires, and scanned by checkov once for everything.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel

from shared.contracts.store import StoreLimits
from shared.settings import ServiceSettings
from tests.deploy.kustomize import K8S_DIR, Manifest, manifests, render

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
SERVICES = ("gateway", "chat", "retrieval", "store")
PART_OF = {"app.kubernetes.io/part-of": "chatkit"}
"""The label deploy/k8s/components/part-of puts on everything the overlays render."""
KUBERNETES_VERSIONS = ("1.30", "1.37")
"""Oldest Kubernetes the manifests support, and the newest kubernetes-validate knows."""
SHUTDOWN_MARGIN_S = 10
"""terminationGracePeriodSeconds = preStop sleep + uvicorn graceful timeout + this margin."""

# Environment variables set on our containers that no settings class reads, and why.
PROCESS_ENV = {
    "PATH": "the image's virtualenv",
    "PYTHONPATH": "the code copied into /app",
    "PYTHONUNBUFFERED": "logs reach the container runtime at once",
    "PYTHONDONTWRITEBYTECODE": "the root filesystem is read-only",
    "PIP_NO_CACHE_DIR": "build stage only",
    "PIP_DISABLE_PIP_VERSION_CHECK": "build stage only",
    "HF_HUB_OFFLINE": "the embedding model is bundled; never reach a hub",
    "TRANSFORMERS_OFFLINE": "the embedding model is bundled; never reach a hub",
    "HF_HOME": "Hugging Face caches on the writable /tmp",
    "XDG_CACHE_HOME": "other caches on the writable /tmp",
}


# -- rendering ----------------------------------------------------------------------


@functools.cache
def rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(manifests(K8S_DIR / "overlays" / overlay))


def key_of(manifest: Manifest) -> tuple[str, str, str]:
    """(kind, namespace, name) of one object."""
    meta = manifest["metadata"]
    return (manifest["kind"], meta.get("namespace", ""), meta["name"])


def objects(overlay: str, kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in rendered(overlay) if m["kind"] == kind}


def deployment(overlay: str, service: str) -> Manifest:
    return objects(overlay, "Deployment")[service]


def container(manifest: Manifest) -> dict[str, Any]:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    assert only["name"] == manifest["metadata"]["name"]
    return only


def workloads(overlay: str) -> list[Manifest]:
    return [m for m in rendered(overlay) if m["kind"] in ("Deployment", "StatefulSet")]


def containers_of(workload: Manifest) -> list[dict[str, Any]]:
    """Every container (init containers included) of a Deployment or StatefulSet."""
    pod = workload["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def test_split_image() -> None:
    assert split_image("localhost:5001/gateway:dev") == ("localhost:5001/gateway", "dev", None)
    assert split_image("ghcr.io/x/chat@sha256:ab") == ("ghcr.io/x/chat", None, "sha256:ab")
    assert split_image("store") == ("store", None, None)


def option(command: list[str], name: str) -> str:
    """Value of `--name=value` (or `--name value`) in a command line."""
    for i, arg in enumerate(command):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return command[i + 1]
    raise AssertionError(f"{name} missing from {command}")


def secret_values(overlay: str) -> dict[tuple[str, str], str]:
    """(secret name, key) -> value of the Secrets the overlay renders (dev generates some)."""
    import base64

    return {
        (name, key): base64.b64decode(value).decode()
        for name, secret in objects(overlay, "Secret").items()
        for key, value in (secret.get("data") or {}).items()
    }


# -- settings -----------------------------------------------------------------------


@functools.cache
def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"services/{service}/settings.py: one settings class expected"
    return found[0]


def env_names(cls: type[BaseModel]) -> set[str]:
    """The environment variables a settings class reads (upper case)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + name)
    return {name.upper() for name in names}


def test_env_names_follow_pydantic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper above agrees with pydantic-settings on a prefixed and an aliased field."""
    from services.store.settings import StoreSettings

    names = env_names(StoreSettings)
    assert {"STORE_PORT", "STORE_POOL_MAX_SIZE", "DATABASE_URL", "INTERNAL_TOKEN"} <= names
    assert "STORE_INTERNAL_TOKEN" not in names
    monkeypatch.setenv("STORE_POOL_MAX_SIZE", "7")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    settings = StoreSettings(_env_file=None)
    assert (settings.pool_max_size, settings.database_url) == (7, "postgresql://x@y/z")


def service_settings(service: str) -> type[ServiceSettings]:
    try:
        return settings_class(service)
    except ModuleNotFoundError as exc:
        if exc.name == f"services.{service}.settings":
            pytest.skip(f"services/{service}/settings.py is not written yet")
        raise


# -- labels -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_and_pod_is_part_of_the_platform(overlay: str) -> None:
    for manifest in rendered(overlay):
        labels = manifest["metadata"].get("labels") or {}
        assert labels.items() >= PART_OF.items(), key_of(manifest)
    for workload in workloads(overlay):
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pod_labels.items() >= PART_OF.items(), key_of(workload)
        # selectors are immutable: the label must not reach them (includeSelectors: false)
        assert PART_OF.keys().isdisjoint(workload["spec"]["selector"]["matchLabels"])
        for claim in workload["spec"].get("volumeClaimTemplates", []):
            assert PART_OF.keys().isdisjoint(claim["metadata"].get("labels", {}))


# -- schemas --------------------------------------------------------------------------


def test_strict_schema_validation_rejects_unknown_fields() -> None:
    import kubernetes_validate

    bogus = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80, "tagetPort": 80}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bogus, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schema(overlay: str, version: str) -> None:
    import kubernetes_validate

    problems = []
    for manifest in rendered(overlay):
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            problems.append(f"{key_of(manifest)} at {path}: {exc.message}")
    assert not problems, "\n".join(problems)


# -- names, ports, env -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_objects_under_one_name(overlay: str) -> None:
    for service in SERVICES:
        for kind in (
            "Deployment",
            "Service",
            "ServiceAccount",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
        ):
            manifest = objects(overlay, kind).get(service)
            assert manifest is not None, f"{overlay}: no {kind} {service}"
            assert manifest["metadata"]["labels"]["app.kubernetes.io/name"] == service
        pod = deployment(overlay, service)["spec"]["template"]
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == service
        assert pod["spec"]["serviceAccountName"] == service
        image, tag, _ = split_image(container(deployment(overlay, service))["image"])
        assert image.rsplit("/", 1)[-1] == service
        assert tag not in (None, "latest")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_match_the_settings_and_the_services(overlay: str) -> None:
    for service in SERVICES:
        port = service_settings(service).model_fields["port"].default
        main = container(deployment(overlay, service))
        assert main["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}
        metrics = {e["name"]: e.get("value") for e in main["env"]}.get(
            f"{service.upper()}_METRICS_PORT"
        )
        extra = (
            [{"name": "metrics", "containerPort": int(metrics), "protocol": "TCP"}]
            if metrics
            else []
        )
        assert main["ports"][1:] == extra
        assert int(option(main["command"], "--port")) == port
        assert main["command"][:3] == ["uvicorn", f"services.{service}.app:create_app", "--factory"]
        svc = objects(overlay, "Service")[service]
        assert svc["spec"]["selector"] == {"app.kubernetes.io/name": service}
        (svc_port,) = svc["spec"]["ports"]
        assert (svc_port["port"], svc_port["targetPort"]) == (port, "http")
        annotations = deployment(overlay, service)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == (metrics or str(port))


def env_of(overlay: str, manifest: Manifest) -> dict[str, dict[str, Any]]:
    """The container's environment by name: its ConfigMaps' keys (`envFrom`) as values, then
    its own `env`, which wins, as the kubelet has it."""
    config_maps = objects(overlay, "ConfigMap")
    env: dict[str, dict[str, Any]] = {}
    for source in container(manifest).get("envFrom") or []:
        data = config_maps[source["configMapRef"]["name"]].get("data") or {}
        env.update({name: {"name": name, "value": value} for name, value in data.items()})
    env.update({e["name"]: e for e in container(manifest).get("env") or []})
    return env


SHARED_SETTINGS = "chatkit-shared-settings"


def shared_settings(overlay: str) -> dict[str, str]:
    """The data of the ConfigMap of settings several services read."""
    (name,) = (n for n in objects(overlay, "ConfigMap") if n.startswith(SHARED_SETTINGS))
    return dict(objects(overlay, "ConfigMap")[name]["data"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_several_services_read_are_set_once_for_all(overlay: str) -> None:
    """The store's limits bound what gateway and chat read: they come from one ConfigMap
    that all three read, and no Deployment sets them on its own."""
    limits = env_names(StoreLimits)
    shared = shared_settings(overlay)
    assert limits <= set(shared), f"{overlay}: not in the shared ConfigMap: {limits - set(shared)}"
    for service in ("gateway", "chat", "store"):
        manifest = deployment(overlay, service)
        own = {e["name"] for e in container(manifest).get("env") or []}
        assert not own & limits, f"{overlay}/{service} sets {sorted(own & limits)} itself"
        env = env_of(overlay, manifest)
        assert {name: env[name]["value"] for name in limits} == {n: shared[n] for n in limits}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_env_var_is_read_by_the_settings(overlay: str) -> None:
    for service in SERVICES:
        known = env_names(service_settings(service))
        unknown = set(env_of(overlay, deployment(overlay, service))) - known - set(PROCESS_ENV)
        assert not unknown, f"{overlay}/{service}: no settings field reads {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_settings_accept_the_deployment_env(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each settings class validates with the values the Deployment sets (secrets faked)."""
    for service in SERVICES:
        cls = service_settings(service)
        with monkeypatch.context() as env:
            for name in env_names(cls):
                env.delenv(name, raising=False)
            for name, entry in env_of(overlay, deployment(overlay, service)).items():
                if "value" in entry:
                    env.setenv(name, entry["value"])
                elif "secretKeyRef" in entry.get("valueFrom", {}):
                    ref = entry["valueFrom"]["secretKeyRef"]
                    value = secret_values(overlay).get((ref["name"], ref["key"]))
                    if value is None and ref.get("optional"):
                        continue  # a key the Secret may lack: the pod starts without it
                    env.setenv(name, value or "redis://secret.example:6379/0")
            cls(_env_file=None)


URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([a-z0-9-]+)(?::(\d+))?(?:/|$)")


def internal_urls(overlay: str) -> Iterator[tuple[str, str, str, int | None]]:
    """(workload, env var, service host, port) for every in-cluster URL a workload gets."""
    secrets = secret_values(overlay)
    for workload in workloads(overlay):
        for name, entry in env_of(overlay, workload).items():
            value = entry.get("value")
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                value = secrets.get((ref["name"], ref["key"]))
            match = URL.match(value or "")
            if match:  # single-label hosts only: in-cluster Service names
                port = int(match[2]) if match[2] else None
                yield workload["metadata"]["name"], name, match[1], port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_internal_urls_point_at_existing_service_ports(overlay: str) -> None:
    services = objects(overlay, "Service")
    found = list(internal_urls(overlay))
    assert found, "no internal URL found: the parser is broken"
    for workload, name, host, port in found:
        assert host in services, f"{workload} {name}: no Service {host}"
        assert port in {p["port"] for p in services[host]["spec"]["ports"]}, (workload, name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_references(overlay: str) -> None:
    secrets = secret_values(overlay)
    readme = (K8S_DIR / "README.md").read_text()
    for workload in workloads(overlay):
        for entry in env_of(overlay, workload).values():
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                continue
            if overlay == "dev" and not ref.get("optional"):
                assert (ref["name"], ref["key"]) in secrets, ref
            if workload["metadata"]["name"] in SERVICES:
                assert f"`{ref['name']}` | `{ref['key']}`" in readme, f"README lacks {ref}"
    if overlay == "prod":
        assert not objects("prod", "Secret"), "production secrets stay out of git"


# -- hardening --------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened(overlay: str) -> None:
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert workload["metadata"].get("namespace") not in (None, "default"), name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in containers_of(workload):
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            assert ctx.get("privileged", False) is False, name
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) >= {"cpu", "memory"}, (name, bound)
            assert "livenessProbe" in c and "readinessProbe" in c, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_probe_roll_and_drain(overlay: str) -> None:
    for service in SERVICES:
        manifest = deployment(overlay, service)
        main = container(manifest)
        assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        strategy = manifest["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0
        # graceful shutdown: the pod lives as long as uvicorn may drain, and then some
        pre_stop = main["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        graceful = int(option(main["command"], "--timeout-graceful-shutdown"))
        grace = manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace == int(pre_stop[1]) + graceful + SHUTDOWN_MARGIN_S, service
        if service in ("gateway", "chat"):  # streams: long enough for a whole reply
            assert graceful >= 120, service
        # /tmp is the only writable path, and it exists
        mounts = {m["mountPath"] for m in main["volumeMounts"]}
        assert "/tmp" in mounts, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaling_and_disruption_budgets(overlay: str) -> None:
    hpas = objects(overlay, "HorizontalPodAutoscaler")
    pdbs = objects(overlay, "PodDisruptionBudget")
    for service in SERVICES:
        manifest = deployment(overlay, service)
        assert "replicas" not in manifest["spec"], f"{service}: the HPA owns the replica count"
        hpa = hpas[service]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": service,
        }
        metrics = {
            (m["type"], m.get("resource", m.get("pods", {}).get("metric", {})).get("name"))
            for m in hpa["metrics"]
        }
        if service == "gateway":
            assert metrics == {("Pods", "gateway_open_streams"), ("Resource", "cpu")}
        else:
            assert metrics == {("Resource", "cpu")}
        if overlay == "dev":
            assert hpa["minReplicas"] == hpa["maxReplicas"] == 1
        else:
            assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
        pdb = pdbs[service]["spec"]
        assert pdb["selector"]["matchLabels"] == manifest["spec"]["selector"]["matchLabels"]
        assert pdb.get("maxUnavailable") == 1


# -- network ----------------------------------------------------------------------------


def admits(
    overlay: str, target: Manifest, port: str, *, pod: str | None = None, namespace: str = ""
) -> bool:
    """Whether the NetworkPolicies let a pod (by name label) or a namespace reach `port`."""
    labels = target["spec"]["template"]["metadata"]["labels"]
    selecting = [
        p["spec"]
        for p in objects(overlay, "NetworkPolicy").values()
        if all(
            labels.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items()
        )
        and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert selecting, f"{target['metadata']['name']}: no NetworkPolicy selects it"
    for policy in selecting:
        for rule in policy.get("ingress") or []:
            ports = {p["port"] for p in rule.get("ports") or []}
            if ports and port not in ports:
                continue
            for peer in rule.get("from") or []:
                if pod and peer.get("podSelector", {}).get("matchLabels") == {
                    "app.kubernetes.io/name": pod
                }:
                    return True
                ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if namespace and ns == {"kubernetes.io/metadata.name": namespace}:
                    return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_exactly_the_callers(overlay: str) -> None:
    services = objects(overlay, "Service")
    callers: dict[str, set[str]] = {}
    for workload, _, host, _ in internal_urls(overlay):
        callers.setdefault(host, set()).add(workload)
    # what the platform promises
    assert callers["retrieval"] == {"chat", "gateway"}  # the gateway: the book's pages
    assert callers["chat"] == {"gateway"}
    assert callers["store"] <= {"chat", "gateway"}
    assert "gateway" not in callers
    names = {w["metadata"]["name"] for w in workloads(overlay)}
    for target in workloads(overlay):
        name = target["metadata"]["name"]
        for port in (p["name"] for p in services[name]["spec"]["ports"]):
            for source in names:
                allowed = admits(overlay, target, port, pod=source)
                assert allowed == (source in callers.get(name, set())), (name, port, source)
            outside = admits(overlay, target, port, namespace="ingress-nginx")
            assert outside == (name == "gateway"), (name, port)
    for service in SERVICES:  # Prometheus scrapes /metrics on the annotated port
        target = deployment(overlay, service)
        scrape = target["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
        (port,) = [
            p["name"] for p in container(target)["ports"] if str(p["containerPort"]) == scrape
        ]
        assert admits(overlay, target, port, namespace="monitoring")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_metrics_are_not_public(overlay: str) -> None:
    gateway = deployment(overlay, "gateway")
    env = {e["name"]: e.get("value") for e in container(gateway)["env"]}
    ports = {p["name"]: p["containerPort"] for p in container(gateway)["ports"]}
    assert int(env["GATEWAY_METRICS_PORT"]) == ports["metrics"] != ports["http"]
    service = objects(overlay, "Service")["gateway"]
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]
    assert not admits(overlay, gateway, "metrics", namespace="ingress-nginx")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_to_the_gateway_without_buffering(overlay: str) -> None:
    (ingress,) = objects(overlay, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert notes[prefix + "proxy-buffering"] == "off"
    assert notes[prefix + "proxy-request-buffering"] == "off"
    gateway = container(deployment(overlay, "gateway"))
    graceful = int(option(gateway["command"], "--timeout-graceful-shutdown"))
    assert int(notes[prefix + "proxy-read-timeout"]) >= graceful
    assert int(notes[prefix + "proxy-send-timeout"]) >= graceful
    body = notes[prefix + "proxy-body-size"]
    assert body.endswith("m")
    max_body = service_settings("gateway").model_fields["max_body_bytes"].default
    assert int(body[:-1]) * 1024 * 1024 > max_body
    assert rule["host"] != "chatkit.example.com", "each overlay sets its host"


# -- Dockerfiles ------------------------------------------------------------------------


def dockerfile(service: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of services/<service>/Dockerfile, continuation lines joined."""
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#(?! syntax).*\n", "", text))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile(service: str) -> None:
    steps = dockerfile(service)
    args = {instr: [a for i, a in steps if i == instr] for instr in {i for i, _ in steps}}
    assert all("-slim" in base for base in args["FROM"])
    assert args["USER"][-1].split(":")[0].isdigit() and int(args["USER"][-1].split(":")[0]) >= 10000
    port = service_settings(service).model_fields["port"].default
    assert args["EXPOSE"] == [str(port)]
    # only this service's extra and code
    install = " ".join(args["RUN"])
    assert f"['optional-dependencies']['{service}']" in install
    others = [s for s in SERVICES if s != service]
    copies = " ".join(args["COPY"])
    assert f"services/{service} " in copies
    assert not any(f"services/{other}" in copies for other in others)
    # the image's default command is the Deployment's
    (cmd,) = args["CMD"]
    base = manifests(K8S_DIR / "base")
    main = next(
        container(m) for m in base if m["kind"] == "Deployment" and m["metadata"]["name"] == service
    )
    assert json.loads(cmd) == main["command"]
    env = {name for a in args.get("ENV", []) for name in re.findall(r"(\w+)=", a)}
    assert env <= set(PROCESS_ENV) | env_names(service_settings(service)), env
    if service == "retrieval":
        assert "whl/cpu" in " ".join(args["ARG"]) and "torch==2.13.0" in install


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines and "!services/" in lines and "!shared/" in lines


# -- checkov ----------------------------------------------------------------------------


def checkov_binary() -> str | None:
    for candidate in (
        os.environ.get("CHECKOV"),
        shutil.which("checkov"),
        str(ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def test_checkov_finds_nothing(tmp_path: Path) -> None:
    """One checkov run over both rendered overlays and the four Dockerfiles."""
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov is not installed (see deploy/k8s/README.md)")
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(render(K8S_DIR / "overlays" / overlay))
    for service in SERVICES:
        (tmp_path / service).mkdir()
        shutil.copy(ROOT / "services" / service / "Dockerfile", tmp_path / service)
    command = [
        binary,
        "--config-file",
        str(K8S_DIR / "checkov.yaml"),
        "--directory",
        str(tmp_path),
        "--output",
        "json",
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode in (0, 1), f"{shlex.join(command)}\n{result.stderr}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    assert sum(r["summary"]["passed"] for r in reports) > 500
