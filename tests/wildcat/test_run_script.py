"""`make run` (scripts/run.sh) says what it does at each step, and lets a newcomer's local webhook receiver in.

The script runs for real: its own data folder, SQLite and the file broker, gunicorn, two workers and beat.
Production settings stay strict: without the script, no loopback or private destination is allowed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.http_receiver import receiving
from tests.support.processes import PROJECT_ROOT, ChildProcess, wait_until

# What run.sh decides for itself on the embedded default; the test run's own values must not leak in.
NOT_INHERITED = {"DATABASE_URL", "REDIS_URL", "WILDCAT_SECRET_KEY", "WILDCAT_WEBHOOK_ALLOWED_NETWORKS", "PGAPPNAME"}
STEPS = [
    "[run] applying database migrations",
    "[run] collecting static files",
    "[run] making sure an admin login exists",
    "[run] starting the web server on 127.0.0.1:",
    "[run] starting the sessions worker",
    "[run] starting the general worker",
    "[run] starting beat",
    "[run] waiting for the web server to answer /healthz",
    "[run] healthy after",
    "Wildcat is running.",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env.update(WILDCAT_DATA_DIR=str(data_dir), WILDCAT_PORT=str(port), WILDCAT_HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    env.pop("WILDCAT_PUBLIC_URL", None)
    return env


def _api(base: str, key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.mark.e2e
def test_make_run_prints_each_step_and_accepts_a_loopback_webhook_receiver(tmp_path):
    port = _free_port()
    env = _embedded_env(tmp_path / "data", port)
    run = ChildProcess(["bash", "scripts/run.sh"], env, tmp_path / "run.log")
    try:
        wait_until(lambda: "Press Ctrl-C to stop." in run.log_text() or not run.alive(), timeout=240, interval=1)
        output = run.log_text()
        assert run.alive(), output
        positions = [output.find(step) for step in STEPS]
        assert -1 not in positions and positions == sorted(positions), output
        banner = output[output.index("Wildcat is running.") :]
        assert "loopback receivers are allowed" in banner and "WILDCAT_WEBHOOK_ALLOWED_NETWORKS= (empty)" in banner

        key = subprocess.run(
            [sys.executable, "manage.py", "createapikey", "--label", "first-receiver"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        base = f"http://127.0.0.1:{port}"
        with receiving() as receiver:
            hook = _api(base, key, "POST", "/webhooks", {"url": f"{receiver.url}/hook", "event_types": []})
            assert receiver.url.startswith("http://127.0.0.1:")
            _api(base, key, "POST", f"/webhooks/{hook['id']}/test")
            wait_until(lambda: receiver.requests, timeout=60, message="the test event at the local receiver")
            assert json.loads(receiver.requests[0].body)["type"] == "webhook.test"
            assert receiver.requests[0].headers["webhook-signature"].startswith("v1,")
    finally:
        run.stop(timeout=30)
    assert "Traceback" not in (tmp_path / "data" / "logs" / "worker-general.log").read_text()


def test_production_settings_allow_no_loopback_or_private_destination(tmp_path):
    """Without run.sh (docker-compose, or any other start), the SSRF guard lets nothing private through."""
    env = _embedded_env(tmp_path, _free_port())
    env.update(WILDCAT_SECRET_KEY="production-like-secret-0123456789abcdefghij", WILDCAT_PRODUCTION="true")
    probe = (
        "import django, json; django.setup()\n"
        "from django.conf import settings\n"
        "from wildcat.destinations import UnsafeDestination, validate_url\n"
        "refused = []\n"
        "for url in ('http://127.0.0.1:8080/hook', 'http://[::1]/hook', 'http://10.0.0.5/hook'):\n"
        "    try:\n"
        "        validate_url(url)\n"
        "    except UnsafeDestination:\n"
        "        refused.append(url)\n"
        "print(json.dumps({'allowed': settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS, 'refused': refused}))\n"
    )
    env["DJANGO_SETTINGS_MODULE"] = "wildcat.settings"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, text=True
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {
        "allowed": [],
        "refused": ["http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://10.0.0.5/hook"],
    }


def test_the_loopback_default_lives_only_in_the_run_script():
    script = (PROJECT_ROOT / "scripts" / "run.sh").read_text()
    assert 'if [ -z "${WILDCAT_WEBHOOK_ALLOWED_NETWORKS+set}" ]' in script, "an explicit empty value is respected"
    for production_file in ("docker-compose.yml", "Dockerfile"):
        assert "WILDCAT_WEBHOOK_ALLOWED_NETWORKS" not in (PROJECT_ROOT / production_file).read_text()
