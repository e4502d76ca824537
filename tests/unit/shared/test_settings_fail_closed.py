"""Settings fail closed (issue 15, item 6): no default ENV; outside dev and test no development or short secret, no
virtual clock, no development database password on a public bind, no HS256: each refusal names its setting."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.intake.config import IntakeSettings
from services.notifications.config import NotificationsSettings
from services.routing.config import RoutingSettings
from services.supervision.config import SupervisionSettings
from shared.settings import DEV_JWT_SECRET, ServiceSettings, refusal_message
from shared.tracing import ENDPOINT_VARIABLES as TRACING_ENDPOINTS

ROOT = Path(__file__).resolve().parents[3]
STRONG = "0123456789abcdef0123456789abcdef"  # 32 bytes
SETTINGS = (IntakeSettings, RoutingSettings, SupervisionSettings, NotificationsSettings)


@pytest.fixture
def production(monkeypatch, tmp_path):
    """ENV=production with everything it needs; each test breaks one thing."""
    denylist = tmp_path / "revoked-jtis"
    denylist.write_text("")
    for name, value in {
        "ENV": "production", "AUTH_JWKS_URL": "https://idp.example.org/realms/grid/protocol/openid-connect/certs",
        "AUTH_JWT_ISSUER": "https://idp.example.org/realms/grid", "AUTH_JTI_DENYLIST_FILE": str(denylist),
        "INTAKE_HOTLINE_SECRET": STRONG, "INTAKE_OPEN311_DEV_KEY": "",
        "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET": STRONG, "NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY": STRONG,
        "NOTIFICATIONS_HOTLINE_CALLBACK_URL": "https://12345.example.gov.cn/callbacks",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AUTH_JWT_SECRET", "CLOCK_MODE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def refusal(settings_class, **values) -> str:
    with pytest.raises(ValidationError) as exc:
        settings_class(**values)
    return refusal_message(exc.value, settings_class)


def test_no_env_refuses_to_start_saying_how_to_set_it(monkeypatch):
    monkeypatch.delenv("ENV", raising=False)
    for settings_class in (ServiceSettings, *SETTINGS):
        message = refusal(settings_class)
        assert "ENV is not set" in message and "ENV=dev" in message and "ENV=production" in message
    monkeypatch.setenv("ENV", "")
    assert "ENV is not set" in refusal(ServiceSettings)
    monkeypatch.setenv("ENV", "prod")
    assert refusal(ServiceSettings).splitlines()[1].startswith("ENV: Input should be 'dev', 'test' or 'production'")


def test_dev_and_test_keep_their_defaults(monkeypatch):
    for env in ("dev", "test"):
        monkeypatch.setenv("ENV", env)
        monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
        settings = IntakeSettings()
        assert settings.auth_jwt_secret.get_secret_value() == DEV_JWT_SECRET  # unset: the published dev secret
        assert settings.auth_jwt_issuer == "grid-dev" and settings.auth_jwt_audience == "grid-platform"
        assert settings.auth_jwt_max_lifetime_seconds == 12 * 3600
        assert IntakeSettings(clock_mode="virtual", http_host="0.0.0.0").clock_mode == "virtual"


def test_an_empty_signing_secret_is_refused_everywhere():
    assert "INTAKE_HOTLINE_SECRET" in refusal(IntakeSettings, hotline_secret="")
    assert "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET" in refusal(NotificationsSettings, hotline_callback_secret="")
    assert "NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY" in refusal(NotificationsSettings, subscription_secret_key="")


def test_production_with_the_identity_provider_and_real_secrets_starts(production):
    for settings_class in SETTINGS:
        settings = settings_class()
        assert settings.env == "production" and not settings.auth_jwt_secret.get_secret_value()
        assert settings.jwks_algorithms() == ("RS256", "ES256")


def test_production_without_the_identity_provider_names_each_missing_setting(production):
    for name in ("AUTH_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JTI_DENYLIST_FILE"):
        production.delenv(name)
    message = refusal(RoutingSettings)
    assert message.startswith("RoutingSettings refuses to start:\nENV=production forbids this configuration:")
    assert "AUTH_JWKS_URL is not set" in message
    assert "AUTH_JWT_ISSUER is the development issuer 'grid-dev'" in message
    assert "AUTH_JTI_DENYLIST_FILE is not set" in message


def test_production_refuses_development_secrets(production):
    production.setenv("AUTH_JWT_SECRET", DEV_JWT_SECRET)
    production.delenv("INTAKE_HOTLINE_SECRET")
    production.setenv("INTAKE_OPEN311_DEV_KEY", "open311-dev-key")
    message = refusal(IntakeSettings)
    assert "still the published development secrets: AUTH_JWT_SECRET, INTAKE_HOTLINE_SECRET, INTAKE_OPEN311_DEV_KEY" \
        in message
    production.delenv("NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY")
    production.delenv("NOTIFICATIONS_HOTLINE_CALLBACK_SECRET")
    assert "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET, NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY" in \
        refusal(NotificationsSettings)


def test_production_refuses_short_secrets_and_any_hs256_secret(production):
    production.setenv("INTAKE_HOTLINE_SECRET", "too-short-a-secret")
    assert "INTAKE_HOTLINE_SECRET is 18 bytes; at least 32" in refusal(IntakeSettings)
    production.setenv("NOTIFICATIONS_HOTLINE_CALLBACK_SECRET", "x" * 31)
    assert "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET is 31 bytes" in refusal(NotificationsSettings)
    production.setenv("AUTH_JWT_SECRET", "a-long-and-random-secret-of-more-than-32-bytes")
    message = refusal(RoutingSettings)
    assert "AUTH_JWT_SECRET is set, but HS256 tokens" in message and "unset it" in message


def test_production_refuses_the_virtual_clock_and_a_plain_http_jwks(production):
    production.setenv("CLOCK_MODE", "virtual")
    assert "CLOCK_MODE=virtual is for the demo and tests" in refusal(SupervisionSettings)
    production.delenv("CLOCK_MODE")
    production.setenv("AUTH_JWKS_URL", "http://idp.example.org/certs")
    assert "AUTH_JWKS_URL must be an https URL" in refusal(SupervisionSettings)


def test_production_refuses_a_public_bind_with_the_development_database_password(production):
    assert IntakeSettings().dev_database_password()  # on loopback it may (a sidecar proxy, a local socket)
    message = refusal(IntakeSettings, http_host="0.0.0.0")
    assert "INTAKE_HTTP_HOST=0.0.0.0 serves beyond this machine" in message and "INTAKE_DATABASE_URL" in message
    public = IntakeSettings(http_host="0.0.0.0", database_url="postgresql://intake:s3cret@db:5432/intake")
    assert not public.dev_database_password()
    assert IntakeSettings(http_host="::1").http_host == "::1"


def test_a_denylist_file_that_cannot_be_read_is_refused_in_any_env(monkeypatch, tmp_path):
    missing = tmp_path / "nope"
    monkeypatch.setenv("AUTH_JTI_DENYLIST_FILE", str(missing))
    assert f"AUTH_JTI_DENYLIST_FILE={missing} is not a readable file" in refusal(ServiceSettings)


def test_jwks_algorithms_are_asymmetric_only():
    assert "AUTH_JWKS_ALGORITHMS" in refusal(ServiceSettings, auth_jwks_algorithms="RS256,HS256")
    assert ServiceSettings(auth_jwks_algorithms="ES256").jwks_algorithms() == ("ES256",)


def test_the_refusal_shows_no_secret_value(production):
    production.setenv("INTAKE_HOTLINE_SECRET", "short-secret-value")
    production.setenv("AUTH_JWT_SECRET", "another-secret-value-that-is-long-enough")
    message = refusal(IntakeSettings)
    assert "short-secret-value" not in message and "another-secret-value" not in message


def test_a_service_started_without_env_exits_with_the_reason(monkeypatch, capsys):
    from services.intake.__main__ import cli

    monkeypatch.delenv("ENV", raising=False)
    with pytest.raises(SystemExit) as exc:
        cli(["migrate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("intake: IntakeSettings refuses to start:\nENV is not set") and "Traceback" not in err


def test_a_service_started_in_production_with_a_dev_secret_exits_with_the_reasons(production, capsys):
    from services.notifications.__main__ import cli

    production.setenv("NOTIFICATIONS_HOTLINE_CALLBACK_SECRET", "hotline-callback-dev-secret")
    with pytest.raises(SystemExit) as exc:
        cli(["sms-gateway"])  # a command that reads its settings itself is covered too
    assert exc.value.code == 2
    assert "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET" in capsys.readouterr().err


def test_the_local_gateway_refuses_to_start_outside_dev_and_test(production):
    from services.notifications.__main__ import cli

    with pytest.raises(SystemExit) as exc:
        cli(["sms-gateway"])  # production settings that are fine in themselves: still not a gateway's place
    assert "development and tests only" in str(exc.value.code)


def test_webhooks_to_local_addresses_are_for_dev_and_test_and_https_is_required_elsewhere(production, monkeypatch):
    assert not NotificationsSettings().allows_local_webhooks()
    assert "NOTIFICATIONS_WEBHOOK_ALLOW_LOCAL" in refusal(NotificationsSettings, webhook_allow_local=True)
    assert "NOTIFICATIONS_HOTLINE_CALLBACK_URL must be an https URL" in refusal(
        NotificationsSettings, hotline_callback_url="http://12345.example.gov.cn/callbacks")
    assert "not a CIDR network" in refusal(NotificationsSettings, webhook_allow_networks="10.20.0.0/16,intranet")
    assert [str(n) for n in NotificationsSettings(webhook_allow_networks="10.20.0.0/16").webhook_networks()] == \
        ["10.20.0.0/16"]
    for env in ("dev", "test"):
        monkeypatch.setenv("ENV", env)
        assert NotificationsSettings().allows_local_webhooks()
        assert not NotificationsSettings(webhook_allow_local=False).allows_local_webhooks()


# ---- docker compose: secrets from a git-ignored .env, never a development default -------------------------------

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
EXAMPLE = ROOT / "deploy/compose.env.example"


def example_values() -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            line = line.lstrip("# ")
            if "=" not in line or " " in line.split("=", 1)[0]:
                continue
        if "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_compose_hard_codes_no_development_secret_and_reads_env_from_dotenv():
    for dev_value in (DEV_JWT_SECRET, "hotline-dev-secret", "hotline-callback-dev-secret",
                      "subscription-secret-key-dev", "open311-dev-key",
                      "intake:intake@", "POSTGRES_PASSWORD: postgres"):
        assert dev_value not in COMPOSE_TEXT
    compose = yaml.safe_load(COMPOSE_TEXT)
    assert compose["x-service"]["env_file"] == ".env" and compose["services"]["migrate"]["env_file"] == ".env"
    assert compose["x-service"]["environment"]["ENV"].startswith("${ENV:?")
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_compose_env_example_names_settings_the_services_read():
    aliases = {alias for field in ServiceSettings.model_fields.values()
               for alias in getattr(field.validation_alias, "choices", [])}
    prefixed = {f"{s.model_config['env_prefix']}{name}".upper() for s in SETTINGS for name in s.model_fields}
    values = example_values()
    for name in values:
        read_by_compose = (name.endswith("_PASSWORD") and f"${{{name}:?" in COMPOSE_TEXT) \
            or (name.startswith("WEB_") and f"${{{name}:-" in COMPOSE_TEXT)  # the web origin's own (nginx)
        read_by_opentelemetry = name in TRACING_ENDPOINTS  # shared/tracing.py switches on it; the SDK reads it
        assert name in aliases or name in prefixed or read_by_compose or read_by_opentelemetry, name
    assert values["ENV"] == "dev"
    for name in ("INTAKE_HOTLINE_SECRET", "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET",
                 "NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY", "AUTH_JWT_SECRET", "POSTGRES_PASSWORD", "INTAKE_DB_PASSWORD"):
        assert values[name] == "", f"the example gives {name} a value: a published secret"
