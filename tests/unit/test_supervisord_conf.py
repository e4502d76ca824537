"""deploy/local/supervisord_conf.py: supervisord's config from processes.txt, read back with supervisor's own parser."""

import json
from configparser import RawConfigParser
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import ServerOptions

from deploy.local.supervisord_conf import Role, prometheus_targets, read_roles, render


def test_every_role_of_processes_txt_is_one_program_restarted_with_backoff(tmp_path):
    roles = read_roles()
    assert ("supervision", "ticker") in {(r.service, r.role) for r in roles}
    conf = tmp_path / "supervisord.conf"
    conf.write_text(render(tmp_path, {"ENV": "dev"}))
    (tmp_path / "logs").mkdir()
    (tmp_path / "supervisor").mkdir()
    parser = RawConfigParser()
    parser.read(conf)
    programs = {s.removeprefix("program:") for s in parser.sections() if s.startswith("program:")}
    assert programs == {r.name for r in roles}
    for role in roles:
        section = parser[f"program:{role.name}"]
        assert section["command"].endswith(f"-m services.{role.service} {role.role}")
        assert section["autorestart"] == "true" and int(section["startretries"]) > 1 and int(section["startsecs"]) > 0
        assert section["stopasgroup"] == section["killasgroup"] == "true"
        assert section["stdout_logfile"] == f"{tmp_path.resolve()}/logs/{role.name}.log"
    # supervisord itself accepts it.
    options = ServerOptions()
    options.realize(["-c", str(conf)])
    assert {group.name for group in options.process_group_configs} == programs


def test_the_roles_settings_are_passed_exactly_and_nothing_else(tmp_path, capsys):
    tricky = 'a "quoted", 100% \\ value'
    text = render(tmp_path, {"ENV": "test", "CLOCK_MODE": "virtual", "CLOCK_SPEED": "120",
                             "INTAKE_DATABASE_URL": tricky, "ROUTING_DATABASE_URL": "postgresql://u:p@h/db?x=1,2",
                             "AUTH_JWT_SECRET": "both ' and \"", "HOME": "/root", "MAKEFLAGS": "-j"},
                  roles=[Role("intake", "api")])
    line = next(x for x in text.splitlines() if x.startswith("environment="))
    value = line.removeprefix("environment=").replace("%%", "%")  # supervisord %-expands config values first
    assert dict_of_key_value_pairs(value) == {"ENV": "test", "CLOCK_MODE": "virtual", "CLOCK_SPEED": "120",
                                              "INTAKE_DATABASE_URL": tricky,
                                              "ROUTING_DATABASE_URL": "postgresql://u:p@h/db?x=1,2"}
    assert "AUTH_JWT_SECRET" in capsys.readouterr().err  # left to the environment supervisord inherits


def test_a_count_gives_that_many_processes_with_a_log_each(tmp_path):
    processes = tmp_path / "processes.txt"
    processes.write_text("# service role port\nintake api INTAKE_HTTP_PORT x2\nintake consume x2\n")
    roles = read_roles(processes)
    assert roles == [Role("intake", "api", "INTAKE_HTTP_PORT", 2), Role("intake", "consume", None, 2)]
    api, consume = render(tmp_path, {"ENV": "dev"}, roles=roles).split("[program:intake-consume]")
    assert "numprocs=2" in consume and "process_name=%(program_name)s-%(process_num)d" in consume
    assert f"stdout_logfile={tmp_path.resolve()}/logs/intake-consume-%(process_num)d.log" in consume
    # The API's two processes share its port.
    assert 'environment=ENV="dev",INTAKE_HTTP_REUSE_PORT="true"' in api and "REUSE_PORT" not in consume
    processes.write_text("notifications sms-gateway NOTIFICATIONS_SMS_GATEWAY_PORT x2\n")
    with pytest.raises(ValueError, match="takes no count"):
        read_roles(processes)
    processes.write_text("intake consume two\n")
    with pytest.raises(ValueError, match="count like x2"):
        read_roles(Path(processes))


def test_every_worker_process_gets_a_metrics_port_of_its_own_and_prometheus_is_told_them(tmp_path):
    roles = [Role("intake", "api", "INTAKE_HTTP_PORT", 2), Role("intake", "consume", None, 2),
             Role("intake", "relay"), Role("supervision", "ticker", None, 3)]
    conf = tmp_path / "supervisord.conf"
    conf.write_text(render(tmp_path, {"ENV": "dev", "GRID_METRICS_BASE_PORT": "9400", "INTAKE_METRICS_PORT": "1"},
                           roles=roles))
    (tmp_path / "logs").mkdir()
    (tmp_path / "supervisor").mkdir()
    options = ServerOptions()
    options.realize(["-c", str(conf)])  # supervisord's own reading: %(process_num)d expanded per process
    ports = {}
    for group in options.process_group_configs:
        for process in group.process_configs:
            environment = process.environment or {}
            port = next((v for k, v in environment.items() if k.endswith("_METRICS_PORT")), None)
            ports[process.name] = port
    assert ports == {"intake-api-0": None, "intake-api-1": None,  # the APIs serve /metrics on their HTTP port
                     "intake-consume-0": "9400", "intake-consume-1": "9401", "intake-relay": "9410",
                     "supervision-ticker-0": "9420", "supervision-ticker-1": "9421", "supervision-ticker-2": "9422"}
    targets = json.loads(prometheus_targets(roles, 9400))
    assert {(t["labels"]["role"], target) for t in targets for target in t["targets"]} == {
        ("consume", "127.0.0.1:9400"), ("consume", "127.0.0.1:9401"), ("relay", "127.0.0.1:9410"),
        ("ticker", "127.0.0.1:9420"), ("ticker", "127.0.0.1:9421"), ("ticker", "127.0.0.1:9422")}
    # Off: no port is given, and one the operator set passes through as any setting.
    off = render(tmp_path, {"ENV": "dev", "GRID_METRICS_BASE_PORT": "0", "INTAKE_METRICS_PORT": "9999"},
                 roles=[Role("intake", "relay")])
    assert 'INTAKE_METRICS_PORT="9999"' in off and prometheus_targets(roles, 0) == "[]\n"
    with pytest.raises(ValueError, match="multiple of 10"):
        render(tmp_path, {"GRID_METRICS_BASE_PORT": "9405"}, roles=roles)
