"""supervisord's configuration for the native stack, written from deploy/local/processes.txt.

    python -m deploy.local.supervisord_conf RUN_DIR     writes RUN_DIR/supervisor/supervisord.conf, prints its path

One [program] per role (`python -m services.<service> <role>`), restarted whenever it exits, with supervisord's
backoff while it keeps failing to stay up; its stdout and stderr go to RUN_DIR/logs/<service>-<role>.log. The roles'
settings come from this process's environment (ENV, CLOCK_MODE, CLOCK_SPEED, KAFKA_*, AUTH_*, <SERVICE>_*, ... see
PASSED): written into each program's `environment`, so `supervisorctl update` after a change of them restarts the
roles with the new values. Everything else (PATH, HOME, ...) the roles inherit from supervisord. deploy/local/
services.sh drives it; nothing here starts anything.

Metrics: with GRID_METRICS_BASE_PORT set (services.sh: 9400 unless told otherwise; 0 turns it off) each worker role
gets its own `<SERVICE>_METRICS_PORT` (shared/metrics.py): the n-th worker role of processes.txt a block of ten
from base + 10·n, one port per replica. RUN_DIR/supervisor/prometheus-workers.yml lists them for Prometheus'
file_sd (deploy/observability/prometheus/prometheus.yml reads it).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "deploy/local/processes.txt"

# The settings the roles read (shared/settings.py and each service's config), passed on explicitly.
PASSED = re.compile(r"^(ENV|LOG_LEVEL|KAFKA_\w+|CLOCK_\w+|AUTH_\w+|OTEL_\w+|PYTHON\w*|"
                    r"(INTAKE|ROUTING|SUPERVISION|NOTIFICATIONS)_\w+)$")

# A role must stay up STARTSECS to count as started; each failure to do so waits one second longer than the last
# (1 s, 2 s, ... supervisord's backoff), STARTRETRIES times, then the role is FATAL and `make status` says so. A role
# that dies after it started is started again at once. Roles ride out Postgres and Kafka outages themselves
# (shared/resilience.py): only a bug or a bad setting makes one fail to start twenty times (about 3.5 minutes).
STARTSECS = 3
STARTRETRIES = 20
STOPWAITSECS = 10
METRICS_BLOCK = 10  # ports per worker role: its replicas' (a count above this takes no metrics port)


@dataclass(frozen=True)
class Role:
    service: str
    role: str
    port_variable: str | None = None
    count: int = 1

    @property
    def name(self) -> str:
        return f"{self.service}-{self.role}"


def read_roles(path: Path = PROCESSES) -> list[Role]:
    """`service role [PORT_VARIABLE] [xN]` per line; `#` starts a comment."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: want `service role [PORT_VARIABLE] [xN]`, got {line!r}")
        port, count = None, 1
        for field in fields[2:]:
            if re.fullmatch(r"x[1-9][0-9]*", field):
                count = int(field[1:])
            elif re.fullmatch(r"[A-Z][A-Z0-9_]*", field):
                port = field
            else:
                raise ValueError(f"{path}:{number}: {field!r} is neither a port variable nor a count like x2")
        if count > 1 and port and not port.endswith("_HTTP_PORT"):
            raise ValueError(f"{path}:{number}: {fields[0]} {fields[1]} serves {port} alone; it takes no count")
        found.append(Role(fields[0], fields[1], port, count))
    return found


def quote(value: str) -> str | None:
    """A value for supervisord's `environment=`, or None when it cannot carry it. supervisord splits the line with
    shlex in its non-POSIX mode (quotes kept, no escapes, then stripped from both ends) after %-expanding it."""
    if "\n" in value or value.startswith(("'", '"')) or value.endswith(("'", '"')):
        return None
    for mark in '"\'':
        if mark not in value:
            return mark + value.replace("%", "%%") + mark
    return None


def metrics_base(env: dict[str, str]) -> int:
    """GRID_METRICS_BASE_PORT (unset or empty: 0, off)."""
    return int(env.get("GRID_METRICS_BASE_PORT") or 0)


def metrics_ports(roles: list[Role], base: int) -> dict[str, list[int]]:
    """Each worker role's metrics ports, one per replica (empty when base is 0). A role with its own HTTP port
    serves /metrics there."""
    if not base:
        return {}
    if base % METRICS_BLOCK or not 1024 <= base <= 65535 - METRICS_BLOCK * len(roles):
        raise ValueError(f"GRID_METRICS_BASE_PORT={base}: want a multiple of {METRICS_BLOCK} from 1024, with room "
                         f"for {len(roles)} blocks of {METRICS_BLOCK} below 65536 (or 0: off)")
    workers = [role for role in roles if not role.port_variable]
    return {role.name: [base + METRICS_BLOCK * n + replica for replica in range(min(role.count, METRICS_BLOCK))]
            for n, role in enumerate(workers)}


def prometheus_targets(roles: list[Role], base: int, host: str = "127.0.0.1") -> str:
    """A file_sd document: every worker process's metrics address, labelled with its service and role."""
    ports = metrics_ports(roles, base)
    groups = [{"targets": [f"{host}:{port}" for port in ports[role.name]],
               "labels": {"service": role.service, "role": role.role}}
              for role in roles if ports.get(role.name)]
    return json.dumps(groups, indent=2) + "\n"  # JSON is YAML; Prometheus reads either


def render(run_dir: Path, env: dict[str, str], roles: list[Role] | None = None,
           python: str | None = None) -> str:
    roles = roles if roles is not None else read_roles()
    ports = metrics_ports(roles, metrics_base(env))
    run_dir = run_dir.resolve()
    state, logs = run_dir / "supervisor", run_dir / "logs"
    python = python or str(ROOT / ".venv/bin/python")
    pairs = []
    for name, value in sorted(env.items()):
        if not PASSED.match(name) or (ports and name.endswith("_METRICS_PORT")):
            continue  # (a worker's metrics port is its own, below)
        if (quoted := quote(value)) is None:
            # Left to the environment supervisord inherits (a change to it then needs `services.sh stop` first).
            print(f"supervisord_conf: {name} holds both quote marks, a newline or an edge quote: inherited, not "
                  "written", file=sys.stderr)
            continue
        pairs.append(f"{name}={quoted}")
    passed = ",".join(pairs)
    lines = [
        "; Generated by deploy/local/supervisord_conf.py from deploy/local/processes.txt; edits are overwritten.",
        "[unix_http_server]", f"file={state}/supervisor.sock", "chmod=0700", "",
        "[supervisorctl]", f"serverurl=unix://{state}/supervisor.sock", "",
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisord]", f"logfile={logs}/supervisord.log", "logfile_maxbytes=10MB", "logfile_backups=2",
        f"pidfile={state}/supervisord.pid", f"childlogdir={logs}", f"directory={ROOT}", "loglevel=info",
        # Many open log files and sockets per role; the default 1024 is enough, 4096 leaves room for replicas.
        "minfds=4096", "",
    ]
    for role in roles:
        lines += [
            f"[program:{role.name}]",
            f"command={python} -m services.{role.service} {role.role}",
            f"directory={ROOT}",
            # Started by services.sh in order (the virtual clock's owner first), not by supervisord on its own.
            "autostart=false", "autorestart=true",
            f"startsecs={STARTSECS}", f"startretries={STARTRETRIES}",
            "stopsignal=TERM", f"stopwaitsecs={STOPWAITSECS}", "stopasgroup=true", "killasgroup=true",
            "redirect_stderr=true",
        ]
        if role.count > 1:
            lines += [f"numprocs={role.count}", "process_name=%(program_name)s-%(process_num)d",
                      f"stdout_logfile={logs}/{role.name}-%(process_num)d.log"]
        else:
            lines += [f"stdout_logfile={logs}/{role.name}.log"]
        lines += ["stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=2"]
        own = passed
        if role.count > 1 and role.port_variable:
            # The API's replicas share its port (SO_REUSEPORT, shared/cli.py).
            own = ",".join(filter(None, [passed, f"{role.service.upper()}_HTTP_REUSE_PORT=\"true\""]))
        if role.name in ports and role.count <= METRICS_BLOCK:
            first = ports[role.name][0]
            # supervisord cannot add, but it can spell: first is a multiple of ten, so its tens then the replica.
            port = f"{first // 10}%(process_num)d" if role.count > 1 else str(first)
            own = ",".join(filter(None, [own, f"{role.service.upper()}_METRICS_PORT=\"{port}\""]))
        if own:
            lines.append(f"environment={own}")
        lines.append("")
    return "\n".join(lines)


def write(run_dir: Path, env: dict[str, str]) -> Path:
    conf = run_dir / "supervisor" / "supervisord.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    roles = read_roles()
    text = render(run_dir, env, roles)
    if not conf.exists() or conf.read_text() != text:
        tmp = conf.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)  # it holds the roles' settings, secrets included
        tmp.replace(conf)
    targets = conf.parent / "prometheus-workers.yml"
    targets.write_text(prometheus_targets(roles, metrics_base(env)))
    return conf


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m deploy.local.supervisord_conf RUN_DIR")
    print(write(Path(sys.argv[1]), dict(os.environ)))
