"""deploy/local/supervisord_conf.py: supervisord's config from processes.txt, read back with supervisor's own parser."""

from configparser import RawConfigParser
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import ServerOptions

from deploy.local.supervisord_conf import Role, read_roles, render


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
