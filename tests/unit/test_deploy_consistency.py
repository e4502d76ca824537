"""docker-compose.yml cannot be run here (no Docker engine); check what can be checked without one:
it runs the same roles as the native stack, with the same commands, env names and ports."""

from pathlib import Path

import yaml

from services.intake.config import IntakeSettings
from services.notifications.config import NotificationsSettings
from services.routing.config import RoutingSettings
from services.supervision.config import SupervisionSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = {"intake": IntakeSettings, "routing": RoutingSettings, "supervision": SupervisionSettings,
            "notifications": NotificationsSettings}


def native_roles() -> list[tuple[str, str]]:
    lines = (ROOT / "deploy/local/processes.txt").read_text().splitlines()
    return [tuple(line.split()[:2]) for line in lines if line.strip() and not line.startswith("#")]


def test_compose_runs_every_native_role_with_the_same_command():
    services = COMPOSE["services"]
    for service, role in native_roles():
        name = "sms-gateway" if role == "sms-gateway" else f"{service}-{role}"
        assert name in services, f"compose lacks {name}"
        assert services[name]["command"] == [f"services.{service}", role]


def test_compose_env_names_are_settings_the_services_read():
    env = COMPOSE["x-service"]["environment"]
    shared = {"ENV", "KAFKA_BOOTSTRAP", "AUTH_JWT_SECRET", "CLOCK_MODE", "CLOCK_SPEED", "CLOCK_URL"}
    for name in env:
        if name in shared:
            continue
        service, _, field = name.partition("_")
        assert field.lower() in SETTINGS[service.lower()].model_fields, name


def test_compose_publishes_the_native_ports():
    for service, settings in SETTINGS.items():
        port = settings.model_fields["http_port"].default
        assert f"{port}:{port}" in COMPOSE["services"][f"{service}-api"]["ports"]


def test_every_api_has_a_readiness_healthcheck():
    for service in SETTINGS:
        check = COMPOSE["services"][f"{service}-api"]["healthcheck"]["test"]
        assert check[-1].endswith("/ready")
