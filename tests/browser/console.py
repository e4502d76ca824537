"""The console as the browser tests reach it: every service role a real process (tests/e2e/stack.py) on the small
demo city, nginx in front (deploy/local/nginx.sh, the script `make up` uses) serving the built front end on a free
port, and Debian's chromium driven by Playwright. Screenshots and axe reports go to .run/artifacts/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.e2e.stack import Stack, free_port
from tests.support import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / ".run" / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DIST = ROOT / "services" / "web" / "dist"
NGINX_SH = ROOT / "deploy" / "local" / "nginx.sh"


def build_console() -> None:
    """npm ci and the Vite build, each only when its inputs changed (fast when done): a fresh clone builds here."""
    done = subprocess.run([str(ROOT / "deploy/local/setup.sh"), "web"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"building the console failed:\n{done.stderr[-3000:]}"
    assert (DIST / "index.html").exists(), "the build left no services/web/dist/index.html"


@dataclass
class WebOrigin:
    url: str
    env: dict[str, str]
    run_dir: Path

    def logs(self) -> str:
        return "\n".join(f"==> {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.run_dir.glob("*.log")))


@contextmanager
def web_origin(stack: Stack) -> Iterator[WebOrigin]:
    """nginx on a free port in front of this stack's services. Its run directory is under .run/ (not pytest's
    tmp, which is closed to the unprivileged user nginx runs as)."""
    run_dir = ROOT / ".run" / f"browser-nginx-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "ENV": "test", "NGINX_PORT": str(port), "NGINX_RUN_DIR": str(run_dir),
           "NGINX_LOG_DIR": str(run_dir), "WEB_ROOT": str(DIST),
           **{f"{s.upper()}_UPSTREAM": f"127.0.0.1:{stack.ports[s]}"
              for s in ("intake", "routing", "supervision", "notifications")}}
    started = subprocess.run([str(NGINX_SH), "start"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, f"nginx did not start:\n{started.stderr}"
    origin = WebOrigin(f"http://127.0.0.1:{port}", env, run_dir)
    try:
        yield origin
    except BaseException:
        print(origin.logs())
        raise
    finally:
        subprocess.run([str(NGINX_SH), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.mouse.move(0, 0)  # no tooltip left open where the last click was
    await page.screenshot(path=str(path), full_page=True)
    return path


async def serious_accessibility_violations(page: Page, name: str) -> list[str]:
    """axe-core (the copy axe-playwright-python ships) on the page as it stands; the whole report is kept in
    .run/artifacts/axe/<name>.json; returns the serious and critical violations, one line each."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    (ARTIFACTS / "axe").mkdir(parents=True, exist_ok=True)
    results.save_to_file(ARTIFACTS / "axe" / f"{name}.json", violations_only=True)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in violations if v.get("impact") in ("serious", "critical")]


def record(name: str, figures: dict[str, Any]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return path


def record_part(name: str, key: str, figures: dict[str, Any]) -> Path:
    """Like `record`, into `key` of the file, keeping its other keys (first-paint.json: the small city's figures
    here, the 15,000-grid city's from bench/map_first_paint.py)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    kept = kept if isinstance(kept, dict) and all(isinstance(v, dict) for v in kept.values()) else {}
    path.write_text(json.dumps({**kept, key: figures}, indent=2, ensure_ascii=False))
    return path
