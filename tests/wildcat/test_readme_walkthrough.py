"""The README's walkthrough runs as written against a live server: gunicorn, real workers, beat and Redis.

The commands are read from README.md, not copied here, so the README cannot drift from the API. The test
sets the variables the README's set-up block defines ($BASE, $KEY, $RECEIVER) and runs the walkthrough
block in bash, with a local receiver standing in for the reader's.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request

import pytest
from standardwebhooks import Webhook

from apikeys.services import apikey_create
from tests.accounts.runtime_support import RUNTIME_ENV
from tests.support.http_receiver import receiving
from tests.support.processes import (
    PROJECT_ROOT,
    ChildProcess,
    child_env,
    running,
    start_beat,
    start_worker,
    wait_for_child_sessions_to_end,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MARKER = "<!-- walkthrough:"
# What `make run` sets for the processes it starts (scripts/run.sh), plus the runtime tests' short timers.
SERVER_ENV = {**RUNTIME_ENV, "WILDCAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}


def readme_blocks() -> tuple[str, str]:
    """The set-up block just before the walkthrough heading's commands, and the marked walkthrough block."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index("## Walkthrough") :]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    walkthrough = re.search(re.escape(MARKER) + r"[^\n]*\n```sh\n(.*?)```", section, re.S).group(1)
    return blocks[0], walkthrough


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def live_wildcat(redis_url, process_logs):
    """gunicorn on a free port plus a sessions worker, a webhooks/default worker and beat, on the test database."""
    port = _free_port()
    web_argv = [sys.executable, "-m", "gunicorn", "wildcat.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    web_argv += ["--workers", "1", "--threads", "4"]
    web = ChildProcess(web_argv, child_env(**SERVER_ENV), process_logs / "web.log")
    sessions = start_worker("walk-sessions", "sessions", process_logs, **SERVER_ENV)
    general = start_worker("walk-general", "default,webhooks", process_logs, **SERVER_ENV)
    with running(web, sessions, general, start_beat(process_logs, **SERVER_ENV)):
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(base), timeout=60, message="gunicorn answering /healthz")
        yield base
    wait_for_child_sessions_to_end()


def test_the_readme_defines_the_variables_the_walkthrough_uses():
    text = (PROJECT_ROOT / "README.md").read_text()
    assert text.index("## Quick start") < text.index("## Walkthrough") < text.index("## Architecture"), "near the top"
    setup, walkthrough = readme_blocks()
    assigned = re.findall(r"^([A-Z]+)=", setup, re.M)
    assert assigned == ["BASE", "KEY", "RECEIVER"]
    assert "createapikey" in setup
    used = set(re.findall(r"\$([A-Z]+)\b", walkthrough))
    assert {"BASE", "KEY", "RECEIVER"} <= used
    assert used - {"BASE", "KEY", "RECEIVER", "CONN", "MSG"} == set(), "every variable is set up or made here"
    curls = re.findall(r"\bcurl\b", "\n".join(line for line in walkthrough.splitlines() if not line.startswith("#")))
    assert 9 <= len(curls) <= 12, "about ten commands"


def test_the_readme_walkthrough_runs_as_written(live_wildcat, tmp_path):
    _, walkthrough = readme_blocks()
    _, key = apikey_create(label="readme-walkthrough")
    with receiving() as receiver:
        env = {"PATH": "/usr/bin:/bin", "BASE": live_wildcat, "KEY": key, "RECEIVER": receiver.url}
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", walkthrough],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        wait_until(lambda: receiver.requests, timeout=30, message="the webhook at the reader's receiver")
        delivered = receiver.requests[0]
    output = result.stdout
    assert not re.search(r'"error":\s*\{', output), "no step answered with an error"
    lines = output.splitlines()
    assert lines[0] == "running", "step 2 started the connection"
    assert re.fullmatch(r"\+1555777\d{4}", lines[1]), "step 4 linked the sandbox phone"
    assert lines[2] == "read" and lines[3] == "done", "steps 6 and 7"
    history = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert [(m["direction"], m["text"]) for m in history["results"]] == [
        ("inbound", "Is my order on its way?"),
        ("outbound", "Hello from Wildcat"),
    ]
    secret, last = lines[-2], lines[-1]
    assert secret.startswith("whsec_") and last == "done"
    assert (tmp_path / "qr.png").read_bytes().startswith(b"\x89PNG"), "step 3 saved the QR code"
    event = Webhook(secret).verify(delivered.body, delivered.headers)
    assert event["type"] == "message.received" and event["data"]["text"] == "Thanks!"
