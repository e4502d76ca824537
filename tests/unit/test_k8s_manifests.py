"""deploy/k8s renders with kustomize and every object it renders is valid: built-in kinds against the Kubernetes
schemas (kubernetes-validate, strict: an unknown field is an error, as with `kubectl apply`'s strict field
validation), Strimzi's and CloudNativePG's against their published CRDs committed under deploy/k8s/crds/.

kustomize is the pinned one deploy/local/setup.sh builds into the cache dir (`setup.sh k8s`); rendering needs no
cluster and no socket. How the manifests agree with processes.txt and compose: test_deployment_shapes.py.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.messaging import topics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
CRDS = K8S / "crds"
OVERLAYS = {"base": K8S / "base", "dev": K8S / "overlays/dev"}
# The Kubernetes version validated against: one both operators support (CloudNativePG 1.30: 1.34–1.36; Strimzi 1.0:
# 1.30 and later).
KUBERNETES_VERSION = "1.34"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def kustomize_binary() -> Path:
    """The kustomize `deploy/local/setup.sh k8s` installs: the version it pins, in GRID_CACHE_DIR."""
    setup = (ROOT / "deploy/local/setup.sh").read_text()
    match = re.search(r'^KUSTOMIZE_VERSION="(v[0-9.]+)"', setup, re.M)
    assert match, "deploy/local/setup.sh pins no KUSTOMIZE_VERSION"
    cache = Path(os.environ.get("GRID_CACHE_DIR") or Path.home() / ".cache/grid-incidents")
    return cache / f"kustomize-{match[1]}" / "kustomize"


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kustomize build` of one overlay (or the base), as objects."""
    binary = kustomize_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `deploy/local/setup.sh k8s` (make setup does)")
    done = subprocess.run([str(binary), "build", str(OVERLAYS[overlay])], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"kustomize build {OVERLAYS[overlay]} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.load_all(done.stdout, Loader=Loader) if doc)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


# ---- the operators' CRDs ------------------------------------------------------------------------------------------

def crd_files() -> list[Path]:
    return sorted(path for path in CRDS.rglob("*.yaml"))


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD's schema with unknown fields refused wherever the API server would refuse them (strict field
    validation): an object that lists its properties and keeps no unknown fields takes no others."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # The API server checks metadata itself (a CRD's schema says only `type: object` there): a name it takes.
    schema["properties"]["metadata"] = {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
                       "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the served version's openAPIV3Schema, strict."""
    found = {}
    for path in crd_files():
        crd = yaml.load(path.read_text(), Loader=Loader)
        assert crd["kind"] == "CustomResourceDefinition", path
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                found[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return found


def test_the_committed_crds_are_the_published_ones():
    """Each file is byte for byte the release's (deploy/k8s/crds/README.md lists where from, with its sha256)."""
    listed = dict(re.findall(r"`([0-9a-f]{64})`\s+`([^`]+)`", (CRDS / "README.md").read_text()))
    files = {str(path.relative_to(CRDS)): hashlib.sha256(path.read_bytes()).hexdigest() for path in crd_files()}
    assert sorted(listed.values()) == sorted(files), "crds/README.md and the files under deploy/k8s/crds/ differ"
    for digest, name in listed.items():
        assert files[name] == digest, f"{name} is not the published file its README entry names"


# ---- every rendered object is valid -------------------------------------------------------------------------------

def validate(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in crd_schemas():
        jsonschema.Draft7Validator(crd_schemas()[key]).validate(obj)
        return
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{obj['kind']} {obj['apiVersion']} has no schema: neither a Kubernetes {KUBERNETES_VERSION} "
                    "kind nor one of the CRDs under deploy/k8s/crds/")


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_rendered_object_is_valid(overlay):
    failures = []
    for obj in rendered(overlay):
        try:
            validate(obj)
        except jsonschema.ValidationError as exc:  # kubernetes_validate.ValidationError is one too
            where = ".".join(str(part) for part in exc.absolute_path)
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
    assert not failures, "\n".join(failures)
    kinds = {obj["kind"] for obj in rendered(overlay)}
    assert {"Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "Ingress", "Kafka",
            "KafkaNodePool", "KafkaTopic", "Cluster"} <= kinds


def test_the_validation_refuses_a_wrong_field():
    """The checks above can fail: a misspelt field, a wrong type, in a built-in kind and in a custom resource."""
    deployment = copy.deepcopy(objects("base", "Deployment")["intake-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate(deployment)
    topic = copy.deepcopy(objects("base", "KafkaTopic")["intake-incidents-v1"])
    topic["spec"]["partitions"] = "six"
    with pytest.raises(jsonschema.ValidationError):
        validate(topic)
    cluster = copy.deepcopy(objects("base", "Cluster")["intake-db"])
    cluster["spec"]["instancez"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate(cluster)


# ---- what the operators are asked for -----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_the_four_topics_with_their_partitions(overlay):
    declared = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in objects(overlay, "KafkaTopic").values()}
    assert declared == {name: topics.PARTITIONS for name in topics.ALL_TOPICS}
    kafka = objects(overlay, "Kafka")
    assert list(kafka) == ["grid-kafka"]
    for topic in objects(overlay, "KafkaTopic").values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "grid-kafka"
    assert kafka["grid-kafka"]["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_the_broker_is_the_version_the_native_stack_and_compose_run():
    native = re.search(r'^KAFKA_VERSION="([0-9.]+)"', (ROOT / "deploy/local/common.sh").read_text(), re.M)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka"]["image"]
    assert native and compose == f"apache/kafka:{native[1]}"
    assert objects("base", "Kafka")["grid-kafka"]["spec"]["kafka"]["version"] == native[1]


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_a_postgres_cluster_per_service_database(overlay):
    clusters = objects(overlay, "Cluster")
    services = ("intake", "routing", "supervision", "notifications")
    assert sorted(clusters) == sorted(f"{s}-db" for s in services)
    for service in services:
        initdb = clusters[f"{service}-db"]["spec"]["bootstrap"]["initdb"]
        assert (initdb["database"], initdb["owner"]) == (service, service)
    assert "postgis" in " ".join(clusters["routing-db"]["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])


def test_replicated_in_the_base_single_in_dev():
    assert objects("base", "KafkaNodePool")["dual-role"]["spec"]["replicas"] == 3
    assert all(t["spec"]["replicas"] == 3 for t in objects("base", "KafkaTopic").values())
    assert all(c["spec"]["instances"] == 3 for c in objects("base", "Cluster").values())
    assert all(d["spec"]["replicas"] >= 2 for d in objects("base", "Deployment").values())
    assert all(d["spec"]["replicas"] == 1 for d in objects("dev", "Deployment").values())
    config = objects("dev", "Kafka")["grid-kafka"]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == config["min.insync.replicas"] == 1


# ---- secrets are referenced, never inlined ------------------------------------------------------------------------

SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY(S)?$|DATABASE_URL")


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_secrets_are_referenced_never_inlined(overlay):
    assert not objects(overlay, "Secret"), "a Secret is rendered: secrets are the operator's, referenced by name"
    inlined = []
    for deployment in objects(overlay, "Deployment").values():
        for container in containers(deployment):
            for env in container.get("env", []):
                if SECRET_WORDS.search(env["name"]) and ("value" in env or "secretKeyRef" not in env["valueFrom"]):
                    inlined.append(f"{deployment['metadata']['name']}/{container['name']}: {env['name']}")
    for config in objects(overlay, "ConfigMap").values():
        # An empty value disables a setting (INTAKE_OPEN311_DEV_KEY must be empty outside dev): not a secret.
        inlined += [f"ConfigMap {config['metadata']['name']}: {name}" for name, value in config["data"].items()
                    if SECRET_WORDS.search(name) and value]
    assert not inlined, f"secrets given as values, not Secret references: {inlined}"
