"""docker-compose.yml cannot be run here (no Docker engine); check what can be checked without one:
it runs the same roles as the native stack, with the same commands, env names and ports."""

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

from services.intake.config import IntakeSettings
from services.notifications.config import NotificationsSettings
from services.routing.config import RoutingSettings
from services.supervision.config import SupervisionSettings
from shared.settings import ServiceSettings
from shared.tracing import ENDPOINT_VARIABLES as TRACING_ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS: dict[str, type[ServiceSettings]] = {"intake": IntakeSettings, "routing": RoutingSettings,
                                              "supervision": SupervisionSettings,
                                              "notifications": NotificationsSettings}


def native_roles() -> list[tuple[str, str]]:
    lines = (ROOT / "deploy/local/processes.txt").read_text().splitlines()
    return [(line.split()[0], line.split()[1]) for line in lines if line.strip() and not line.startswith("#")]


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


def test_compose_publishes_the_native_ports_to_this_machine_only():
    for service, settings in SETTINGS.items():
        port = settings.model_fields["http_port"].default
        assert COMPOSE["services"][f"{service}-api"]["ports"] == [f"127.0.0.1:{port}:{port}"]
    # Only the web origin faces the network: Postgres, Kafka (PLAINTEXT) and the local gateways stay on loopback.
    published = {name: s.get("ports", []) for name, s in COMPOSE["services"].items() if name != "web"}
    assert all(p.startswith("127.0.0.1:") for ports in published.values() for p in ports), published


def test_every_api_has_a_readiness_healthcheck():
    for service in SETTINGS:
        check = COMPOSE["services"][f"{service}-api"]["healthcheck"]["test"]
        assert check[-1].endswith("/ready")


# ---- deploy/compose.env.example: what a deployment must set -------------------------------------------------------

EXAMPLE = ROOT / "deploy/compose.env.example"
# `NAME=value`, or `# NAME=value` for a setting shown but left to the deployment.
EXAMPLE_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def example_settings() -> dict[str, str]:
    """Each name the example file shows (on a line of its own or commented out), with its value."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := EXAMPLE_LINE.match(line.strip()):
            found[match[2]] = match[3].strip()
    return found


def field_env_names(settings_class: type[BaseSettings], field: str) -> set[str]:
    """The environment variables one field is read from: its stack-wide alias (ENV, AUTH_*, ...), else its prefixed
    name (INTAKE_HOTLINE_SECRET, ...)."""
    alias = settings_class.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return {choice for choice in alias.choices if isinstance(choice, str)}
    if isinstance(alias, str):
        return {alias}
    return {str(settings_class.model_config.get("env_prefix") or "").upper() + field.upper()}


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    return set().union(*(field_env_names(settings_class, field) for field in settings_class.model_fields))


def secret_names() -> set[str]:
    """Every secret a deployment gives: the settings typed SecretStr, and the database passwords compose takes."""
    names = {name for name in compose_variables() if name.endswith("_PASSWORD")}
    for settings_class in SETTINGS.values():
        for field, info in settings_class.model_fields.items():
            if SecretStr in (info.annotation, *get_args(info.annotation)):
                names |= field_env_names(settings_class, field)
    return names


def needed_outside_dev(settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """What a deployment must set or change: every setting the class's own refusals name for its defaults (outside
    dev and test they refuse to start with them: development secrets, no identity provider, ...), and every secret
    it signs or seals with."""
    names = env_names(settings_class)
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENV", "test")  # the defaults, as they would be judged outside dev and test
    settings = settings_class()
    reasons = "\n".join(settings.refusals())
    named = {name for name in names if re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", reasons)}
    return named | set(settings.signing_secrets())


def compose_variables(required_only: bool = False) -> set[str]:
    """The ${...} variables docker-compose.yml interpolates (`${X:?...}`: those it refuses to run without)."""
    pattern = r"\$\{([A-Z][A-Z0-9_]*):\?" if required_only else r"\$\{([A-Z][A-Z0-9_]*)"
    return set(re.findall(pattern, (ROOT / "docker-compose.yml").read_text()))


@pytest.mark.parametrize("settings_class", SETTINGS.values(), ids=list(SETTINGS))
def test_the_env_example_lists_every_setting_a_deployment_must_set(settings_class, monkeypatch):
    needed = needed_outside_dev(settings_class, monkeypatch)
    assert {"AUTH_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JTI_DENYLIST_FILE"} <= needed  # the check reads the refusals
    missing = sorted(needed - set(example_settings()))
    assert not missing, f"deploy/compose.env.example does not mention {missing}, which ENV=production requires"


def test_the_env_example_holds_no_secret_and_every_variable_compose_requires():
    shown = example_settings()
    unset = sorted(compose_variables(required_only=True) - set(shown))
    assert not unset, f"docker-compose.yml refuses to run without {unset}; deploy/compose.env.example omits them"
    secrets = secret_names()
    assert {"AUTH_JWT_SECRET", "INTAKE_HOTLINE_SECRET", "NOTIFICATIONS_SMTP_PASSWORD", "INTAKE_DB_PASSWORD"} <= secrets
    filled = sorted(name for name in secrets & set(shown) if shown[name])
    assert not filled, f"deploy/compose.env.example gives values for secrets: {filled}"


def test_every_name_in_the_env_example_is_read_by_a_service_or_by_compose():
    read = set().union(*(env_names(settings_class) for settings_class in SETTINGS.values())) | compose_variables()
    read |= set(TRACING_ENDPOINTS)  # read by shared/tracing.py and the OpenTelemetry SDK, not a settings class
    unknown = sorted(set(example_settings()) - read)
    assert not unknown, f"deploy/compose.env.example names {unknown}, which neither a service nor compose reads"
