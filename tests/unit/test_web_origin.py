"""The one web origin (issue 16): the nginx config deploy/local/nginx.sh renders from deploy/nginx/ for the native
stack, the browser tests and the compose image. Checked as text (no socket); `nginx -t` too where nginx is
installed (make setup installs it). The proxying itself is exercised by tests/browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NGINX_SH = ROOT / "deploy/local/nginx.sh"
SERVICES = {"intake": 8001, "routing": 8002, "supervision": 8003, "notifications": 8004}


def render(tmp_path: Path, **env: str) -> tuple[str, str]:
    run = tmp_path / "nginx"
    done = subprocess.run([str(NGINX_SH), "render"], capture_output=True, text=True, timeout=30, env={
        **os.environ, "NGINX_RUN_DIR": str(run), "NGINX_LOG_DIR": str(tmp_path / "logs"), "ENV": "dev", **env})
    assert done.returncode == 0, done.stderr
    return (run / "nginx.conf").read_text(), (run / "grid-web.conf").read_text()


def location(site: str, head: str) -> str:
    start = site.index(f"location {head} {{")
    return site[start:site.index("\n    }", start)]


def config_json(site: str) -> dict:
    [body] = re.findall(r"return 200 '(\{.*\})';", location(site, "= /config.json"))
    return json.loads(body)


def test_each_api_is_proxied_under_its_prefix_with_the_prefix_stripped(tmp_path):
    _, site = render(tmp_path)
    for service, port in SERVICES.items():
        assert re.search(rf"upstream grid_{service}\s+{{ server 127\.0\.0\.1:{port};", site), service
        assert f"proxy_pass http://grid_{service}/;" in location(site, f"/api/{service}/")
    assert "proxy_set_header Authorization $http_authorization;" in site
    assert "proxy_set_header Last-Event-ID $http_last_event_id;" in site


def test_the_alert_stream_is_unbuffered_and_uncompressed(tmp_path):
    _, site = render(tmp_path)
    stream = location(site, "= /api/notifications/v1/alerts/stream")
    assert "proxy_pass http://grid_notifications/v1/alerts/stream;" in stream
    for directive in ("proxy_buffering off;", "gzip off;", "proxy_read_timeout 1h;"):
        assert directive in stream
    assert "text/event-stream" not in site.split("gzip_types", 1)[1].split(";", 1)[0]


def test_hashed_assets_are_cached_for_good_and_pages_revalidated(tmp_path):
    _, site = render(tmp_path)
    assert "immutable" in location(site, "/assets/") and "max-age=31536000" in location(site, "/assets/")
    page = location(site, "/")
    assert 'Cache-Control "no-cache"' in page and "try_files $uri /index.html;" in page
    assert re.search(r"^\s*gzip on;", site, re.M)


def test_settings_reach_config_json_escaped(tmp_path):
    tiles = "https://t{s}.tianditu.gov.cn/vec_w/wmts?LAYER=vec&TILEMATRIX={z}&tk=it's$key"
    _, site = render(tmp_path, WEB_TILE_URL=tiles, WEB_TILE_SUBDOMAINS="01234567", WEB_TILE_ATTRIBUTION='"天地图"')
    config = config_json(site)
    assert config == {"tileUrl": tiles, "tileAttribution": '"天地图"', "tileSubdomains": "01234567", "signOnUrl": "",
                      "devSignIn": True}
    assert "img-src 'self' data: blob: https://*.tianditu.gov.cn;" in site  # the tile server, in the CSP
    assert config_json(render(tmp_path, ENV="production")[1])["devSignIn"] is False


def test_no_placeholder_is_left_and_nginx_accepts_the_config(tmp_path):
    conf, site = render(tmp_path)
    assert "${" not in conf + site
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (deploy/local/setup.sh web)")
    run = tmp_path / "nginx"
    command = [nginx, "-t", "-q", "-p", str(run), "-c", str(run / "nginx.conf"), "-e", str(run / "error.log")]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_compose_serves_the_same_origin_in_front_of_every_api():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    assert web["ports"] == ["${WEB_BIND:-0.0.0.0}:8080:8080"]
    for service, port in SERVICES.items():
        assert web["environment"][f"{service.upper()}_UPSTREAM"] == f"{service}-api:{port}"
        assert web["depends_on"][f"{service}-api"] == {"condition": "service_healthy"}
    dockerfile = (ROOT / web["build"]["dockerfile"]).read_text()
    assert "deploy/local/nginx.sh" in dockerfile and '"run"' in dockerfile and "npm ci" in dockerfile
