"""Production as docs/deploy.md describes it: gunicorn with config/gunicorn.py and the production settings, static
files collected and served by WhiteNoise, /healthz following a real worker and beat, /metrics behind its token, and
`check --deploy` passing with the documented environment.

One test on purpose: the processes are started once (collectstatic, gunicorn, a worker, beat) and every claim is
checked against them, in about 20 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from integrations.health import BEAT_DOWN
from tests.conftest import ROOT, _database_url_for_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

METRICS_TOKEN = "deploy-test-metrics-token"
PROXY = {"X-Forwarded-Proto": "https"}  # what the reverse proxy adds (SECURE_PROXY_SSL_HEADER)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def production_env(tmp: Path, port: int) -> dict[str, str]:
    """The documented production environment (docs/deploy.md), on the test database and a broker folder of its own."""
    from django.conf import settings

    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SANDBOX_", "CELERY_", "GHL_OAUTH"))}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "deploy-test-" + "x" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url_for_worker(),
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "METRICS_TOKEN": METRICS_TOKEN,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "HEALTH_WORKER_MAX_AGE_SECONDS": "10",
        "HEALTH_BEAT_MAX_AGE_SECONDS": "10",
        "LOG_FORMAT": "json",
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(tmp / "broker")
    else:
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    return env


class Processes:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, production_env(tmp_path, _free_port()))
    try:
        yield procs
    finally:
        for name in list(procs.procs):
            procs.stop(name)


def _manage(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_production_under_gunicorn_serves_admin_static_health_and_metrics(processes: Processes) -> None:
    env = processes.env
    url = f"http://127.0.0.1:{env['PORT']}"
    # The processes of the recipe, side by side: a worker (on a queue of its own: it must not take the test session's
    # tasks) and beat as in Procfile.production, collectstatic and check --deploy.
    queue = f"deploy-test-{os.getpid()}"
    processes.start(
        "worker",
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=threads", "--concurrency=1"),
        *("-Q", queue, "-n", f"{queue}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle"),
    )
    processes.start("beat", sys.executable, "-m", "celery", "-A", "config", "beat", "-s", str(processes.tmp / "beat"))
    collect = _manage(env, "collectstatic", "--noinput")
    check = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    collect_out, _ = collect.communicate(timeout=120)
    assert collect.returncode == 0, collect_out
    assert (Path(env["DJANGO_STATIC_ROOT"]) / "staticfiles.json").exists()  # the manifest of hashed names
    # After collectstatic: WhiteNoise lists STATIC_ROOT when the app loads.
    gunicorn = processes.start("gunicorn", sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi")
    check_out, _ = check.communicate(timeout=120)
    assert check.returncode == 0, check_out
    assert "System check identified no issues" in check_out

    def answers() -> bool:
        assert gunicorn.poll() is None, processes.log("gunicorn")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code in (200, 503)
        except requests.ConnectionError:
            return False

    _wait_for(answers, 30, "gunicorn to answer")

    def healthy() -> bool:
        return requests.get(f"{url}/healthz", timeout=10).status_code == 200

    try:
        _wait_for(healthy, 45, "/healthz to say 200")
    except AssertionError:
        pytest.fail(
            f"{requests.get(f'{url}/healthz', timeout=10).text}\n{processes.log('worker')}{processes.log('beat')}"
        )
    body = requests.get(f"{url}/healthz", timeout=10).json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["worker"]["alive"] >= 1
    assert body["checks"]["beat"]["ok"] is True

    # The admin's login page and every stylesheet it links, served by WhiteNoise from the collected, hashed files.
    login = requests.get(f"{url}/admin/login/", headers=PROXY, timeout=10, allow_redirects=False)
    assert login.status_code == 200, login.text[:500]
    stylesheets = re.findall(r'<link rel="stylesheet" href="(/static/[^"]+\.css)"', login.text)
    assert "/static/admin/css/base." in " ".join(stylesheets), stylesheets
    for href in stylesheets:
        assert re.search(r"\.[0-9a-f]{12}\.css$", href), href  # a manifest name: cacheable for ever
        css = requests.get(f"{url}{href}", headers={**PROXY, "Accept-Encoding": "gzip"}, timeout=10)
        assert css.status_code == 200, href
        assert css.headers["Content-Type"].startswith("text/css")
        assert "immutable" in css.headers.get("Cache-Control", "")
    # Without TLS (no proxy header) the app sends the browser to https, as check --deploy requires.
    plain = requests.get(f"{url}/admin/login/", timeout=10, allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")

    # /metrics: 401 without the token, Prometheus text with it.
    denied = requests.get(f"{url}/metrics", headers=PROXY, timeout=10)
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    scraped = requests.get(f"{url}/metrics", headers={**PROXY, "Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    assert re.search(r"^streetsync_workers_alive [1-9]", scraped.text, re.MULTILINE), scraped.text
    assert 'streetsync_sync_runs{status="succeeded"}' in scraped.text
    assert re.search(r'^streetsync_queue_depth\{queue="celery"\} \d+', scraped.text, re.MULTILINE), scraped.text

    # Beat stops: /healthz is 503 and names beat alone; it answers without the proxy's header and whatever the Host
    # (a load balancer asks by address).
    processes.stop("beat")
    health = requests.get(f"{url}/healthz", headers={"Host": "10.1.2.3:8000"}, timeout=10, allow_redirects=False)
    assert health.status_code == 503, health.text
    body = health.json()
    assert body["status"] == "down"
    assert body["down"] == ["beat"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"] == {"ok": True}
    assert body["checks"]["beat"]["detail"] == BEAT_DOWN.format(seconds=10)

    # gunicorn's access log went through config/gunicorn.py: one JSON object per request (LOG_FORMAT=json).
    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in processes.log("gunicorn").splitlines() if line.startswith("{")]
        return [line for line in lines if line["logger"] == "gunicorn.access"]

    _wait_for(lambda: any(line["status"] == "503" for line in access_lines()), 10, "the access log line")
    last = [line for line in access_lines() if line["request"] == "GET /healthz HTTP/1.1"][-1]
    assert last["status"] == "503"
    assert float(last["duration_seconds"]) >= 0
