"""The three ways the stack runs name the same roles, ports and settings: deploy/local/processes.txt (the native
stack under supervisord), docker-compose.yml, and deploy/k8s (kustomize: the base and the dev overlay).

A role added to processes.txt without its compose service or its Deployment fails here; so does a port or a
setting name that one of them spells differently from the services' settings classes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from deploy.local.supervisord_conf import Role, read_roles
from tests.unit.test_deploy_consistency import COMPOSE, SETTINGS, env_names, needed_outside_dev
from tests.unit.test_k8s_manifests import containers, objects, rendered

ROLES = read_roles()
# Development only (it refuses to start outside ENV=dev|test): in processes.txt, compose and the dev overlay, never
# in the base.
DEV_ONLY = {("notifications", "sms-gateway")}
# Read by libraries rather than by our settings classes: obstore's S3 credentials (INTAKE_ATTACHMENTS_URL=s3://...).
LIBRARY_SETTINGS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def compose_name(role: Role) -> str:
    return "sms-gateway" if role.role == "sms-gateway" else role.name


def roles_for(overlay: str) -> list[Role]:
    return [r for r in ROLES if overlay == "dev" or (r.service, r.role) not in DEV_ONLY]


def missing_deployments(roles: list[Role], deployments: dict[str, dict[str, Any]]) -> list[str]:
    """The roles without a Deployment named <service>-<role> that runs `python -m services.<service> <role>`."""
    missing = []
    for role in roles:
        deployment = deployments.get(role.name)
        app = deployment and deployment["spec"]["template"]["spec"]["containers"][0]
        if not app or app["args"] != [f"services.{role.service}", role.role]:
            missing.append(role.name)
    return missing


def grid_deployments(overlay: str) -> dict[str, dict[str, Any]]:
    """The Deployments that run a service role (every one but the web origin)."""
    return {name: d for name, d in objects(overlay, "Deployment").items() if name != "web"}


def deployed(overlay: str) -> list[tuple[Role, dict[str, Any]]]:
    """Each role of the overlay with its Deployment (a missing one is test_every_role_has_a_deployment's to report)."""
    deployments = grid_deployments(overlay)
    return [(role, deployments[role.name]) for role in roles_for(overlay) if role.name in deployments]


def settings_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each setting a role's container gets, by name: from its env (value or reference) and its ConfigMaps."""
    configs = {c["metadata"]["name"]: c["data"] for c in rendered_configmaps(deployment)}
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    found: dict[str, dict[str, Any]] = {}
    for source in app.get("envFrom", []):
        found |= {name: {"configMap": value} for name, value in configs[source["configMapRef"]["name"]].items()}
    found |= {env["name"]: env for env in app.get("env", [])}
    return found


def rendered_configmaps(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    namespace = deployment["metadata"].get("namespace")
    return [o for overlay in ("base", "dev") for o in rendered(overlay)
            if o["kind"] == "ConfigMap" and o["metadata"].get("namespace") == namespace]


# ---- roles --------------------------------------------------------------------------------------------------------

def test_processes_txt_lists_every_service_role():
    assert {(r.service, r.role) for r in ROLES} >= {(s, "api") for s in SETTINGS} | DEV_ONLY
    assert {r.service for r in ROLES} == set(SETTINGS)


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_role_has_a_deployment_and_nothing_else_does(overlay):
    deployments = grid_deployments(overlay)
    assert not missing_deployments(roles_for(overlay), deployments)
    assert sorted(deployments) == sorted(r.name for r in roles_for(overlay))
    assert "web" in objects(overlay, "Deployment")


def test_the_base_has_no_development_role():
    assert not {f"{s}-{r}" for s, r in DEV_ONLY} & set(grid_deployments("base"))


def test_a_role_added_to_processes_txt_without_a_deployment_is_found():
    added = [*ROLES, Role("routing", "rebalancer")]
    assert missing_deployments(added, grid_deployments("dev")) == ["routing-rebalancer"]
    # A Deployment that runs another role does not count for this one.
    swapped = dict(grid_deployments("dev"))
    swapped["intake-relay"] = swapped["intake-consume"]
    assert missing_deployments(ROLES, swapped) == ["intake-relay"]


def test_every_role_has_a_compose_service_with_the_same_command():
    for role in ROLES:
        service = COMPOSE["services"].get(compose_name(role))
        assert service, f"docker-compose.yml lacks {compose_name(role)}"
        assert service["command"] == [f"services.{role.service}", role.role]


# ---- ports --------------------------------------------------------------------------------------------------------

def default_port(role: Role) -> int:
    """The default of the setting processes.txt names for the role's port (INTAKE_HTTP_PORT → http_port: 8001)."""
    assert role.port_variable, role
    prefix = f"{role.service.upper()}_"
    assert role.port_variable.startswith(prefix), role
    field = role.port_variable.removeprefix(prefix).lower()
    assert role.port_variable in env_names(SETTINGS[role.service]), role.port_variable
    return int(SETTINGS[role.service].model_fields[field].default)


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_the_same_ports_everywhere(overlay):
    services = objects(overlay, "Service")
    for role, deployment in deployed(overlay):
        app = deployment["spec"]["template"]["spec"]["containers"][0]
        ports = {p["containerPort"] for p in app.get("ports", [])}
        if not role.port_variable:
            # A worker serves only its metrics, on the port its service's settings give every worker pod.
            metrics_port = int(settings_of(deployment)[f"{role.service.upper()}_METRICS_PORT"]["configMap"])
            assert [(p["name"], p["containerPort"]) for p in app.get("ports", [])] == [("metrics", metrics_port)], \
                f"{role.name} serves nothing but its metrics (processes.txt gives it no port); it declares {ports}"
            annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
            assert annotations.get("prometheus.io/port") == str(metrics_port), role.name
            compose_env = COMPOSE["services"][compose_name(role)]["environment"]
            assert int(compose_env[f"{role.service.upper()}_METRICS_PORT"]) == metrics_port, role.name
            continue
        port = default_port(role)
        assert port in ports, f"{role.name}: container ports {ports}, the settings' default {port}"
        assert port in {p["port"] for p in services[role.name]["spec"]["ports"]}, role.name
        compose = COMPOSE["services"][compose_name(role)]
        assert any(mapping.endswith(f":{port}") for mapping in compose.get("ports", [])), role.name


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_the_web_origin_reaches_each_api_as_in_compose(overlay):
    web = objects(overlay, "Deployment")["web"]["spec"]["template"]["spec"]["containers"][0]
    k8s = {e["name"]: e.get("value") for e in web["env"] if e["name"].endswith("_UPSTREAM")}
    compose = {k: v for k, v in COMPOSE["services"]["web"]["environment"].items() if k.endswith("_UPSTREAM")}
    assert k8s == compose
    services = objects(overlay, "Service")
    for service in SETTINGS:
        host, _, port = k8s[f"{service.upper()}_UPSTREAM"].partition(":")
        assert int(port) == SETTINGS[service].model_fields["http_port"].default
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
    ingress = objects(overlay, "Ingress")["web"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web" and backend["port"]["name"] == "http"


# ---- probes, disruption budgets, autoscaling -----------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_apis_are_probed_on_health_and_ready_workers_on_nothing_they_do_not_serve(overlay):
    for role, deployment in deployed(overlay):
        app = deployment["spec"]["template"]["spec"]["containers"][0]
        if role.port_variable and role.port_variable.endswith("_HTTP_PORT"):
            assert app["livenessProbe"]["httpGet"]["path"] == "/health", role.name
            assert app["readinessProbe"]["httpGet"]["path"] == "/ready", role.name
        elif not role.port_variable:
            assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(app), role.name


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_deployment_has_resources_and_a_disruption_budget(overlay):
    budgets = objects(overlay, "PodDisruptionBudget")
    for name, deployment in objects(overlay, "Deployment").items():
        for container in containers(deployment):
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
            assert resources["limits"]["memory"], name
        if deployment["spec"]["replicas"] > 1 or overlay == "base":
            assert name in budgets, f"{name} has no PodDisruptionBudget"
            assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"], name


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_each_api_scales_on_cpu(overlay):
    autoscalers = objects(overlay, "HorizontalPodAutoscaler")
    assert sorted(autoscalers) == sorted(f"{s}-api" for s in SETTINGS)
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# ---- settings -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_every_setting_a_role_gets_is_one_its_service_reads(overlay):
    for role, deployment in deployed(overlay):
        known = env_names(SETTINGS[role.service]) | LIBRARY_SETTINGS
        given = set(settings_of(deployment))
        # The ConfigMap is shared by the four services: another service's prefixed settings are not this one's.
        others = {name for name in given
                  if re.match(r"^(INTAKE|ROUTING|SUPERVISION|NOTIFICATIONS)_", name)
                  and not name.startswith(f"{role.service.upper()}_")}
        unknown = sorted(given - known - others)
        assert not unknown, f"{role.name} gets {unknown}, which no setting of {role.service} reads"


@pytest.mark.parametrize("service", list(SETTINGS))
def test_the_database_url_and_broker_settings_are_named_alike(service):
    database_url = f"{service.upper()}_DATABASE_URL"
    assert database_url in env_names(SETTINGS[service])
    assert {database_url, "KAFKA_BOOTSTRAP", "ENV"} <= set(COMPOSE["x-service"]["environment"])
    for overlay in ("base", "dev"):
        for role, deployment in deployed(overlay):
            if role.service != service or role.role == "sms-gateway":
                continue
            given = settings_of(deployment)
            assert given[database_url]["valueFrom"]["secretKeyRef"] == {"name": f"{service}-db-app", "key": "uri"}
            assert {"KAFKA_BOOTSTRAP", "ENV"} <= set(given), role.name


@pytest.mark.parametrize("service", list(SETTINGS))
def test_the_base_sets_everything_production_requires(service, monkeypatch):
    """ENV=production refuses to start without these (test_deploy_consistency reads them from the refusals): every
    role of the base gets each, secrets as Secret references."""
    # AUTH_JWT_SECRET is among the names the refusals give because it must stay unset there.
    needed = needed_outside_dev(SETTINGS[service], monkeypatch) - {"AUTH_JWT_SECRET"}
    for role, deployment in deployed("base"):
        if role.service != service:
            continue
        given = settings_of(deployment)
        missing = sorted(needed - set(given))
        assert not missing, f"{role.name} lacks {missing}, which ENV=production requires"
        assert given["ENV"] == {"configMap": "production"}
        for name in set(SETTINGS[service]().signing_secrets()):
            assert "secretKeyRef" in given[name].get("valueFrom", {}), f"{role.name}: {name} is not a Secret reference"
        assert "AUTH_JWT_SECRET" not in given, "HS256 tokens are dev and test only"
