"""The SSRF guard's name handling: local names when loopback is allowed, and lookups under a deadline.

The lookup tests point a child process's system resolver at a real DNS server on this machine that
reads every query and never answers (a private mount namespace gives the child its own
``/etc/resolv.conf``), so ``getaddrinfo`` blocks exactly as it does when a resolver is down.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.http_receiver import receiving
from tests.support.processes import PROJECT_ROOT, child_env
from wildcat import destinations, outbound
from wildcat.destinations import UnsafeDestination

# A loopback address of its own, so the silent server never meets a real resolver on port 53.
SILENT_RESOLVER = "127.53.53.53"
# glibc waits this long per try before giving up; far longer than the deadlines under test.
RESOLVER_TIMEOUT_SECONDS = 8


def test_localhost_is_refused_unless_an_operator_allowed_loopback(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = []
    with receiving() as receiver:
        url = f"http://localhost:{receiver.port}/hook"
        with pytest.raises(UnsafeDestination, match="local name"):
            destinations.validate_url(url)
        with pytest.raises(UnsafeDestination, match="local name"):
            outbound.post(url, body=b"{}", headers={}, timeout=2)
        settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
        destinations.validate_url(url)
        result = outbound.post(url, body=b'{"a": 1}', headers={}, timeout=5)
        assert result.status == 200
        assert receiver.count() == 1
        assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


def test_allowing_loopback_does_not_open_a_name_resolving_elsewhere(settings):
    # Only 127.0.0.0/8 is allowed; the name is let through the name check, and the addresses it
    # resolves to are still checked one by one.
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    with pytest.raises(UnsafeDestination, match="local name"):
        destinations.validate_url("http://localhost/hook")


@contextmanager
def _silent_resolver() -> Iterator[list[bytes]]:
    """A DNS server on SILENT_RESOLVER:53 that records each query and answers none."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((SILENT_RESOLVER, 53))
    server.settimeout(0.2)
    queries: list[bytes] = []
    stop = threading.Event()

    def swallow() -> None:
        while not stop.is_set():
            try:
                queries.append(server.recv(4096))
            except TimeoutError:
                continue

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield queries
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


CHILD = """
import json, os, time
import django
django.setup()
from wildcat import destinations, outbound
from wildcat.destinations import OutboundError

started = time.monotonic()
try:
    outbound.post("http://hooks.example.com/hook", body=b"{}", headers={}, timeout=1.0)
    post = {"code": "none"}
except OutboundError as exc:
    post = {"code": exc.code, "message": exc.message}
post["seconds"] = time.monotonic() - started

started = time.monotonic()
try:
    destinations.validate_url("https://hooks.example.com/hook")
    saved = {"accepted": True}
except OutboundError as exc:
    saved = {"accepted": False, "code": exc.code}
saved["seconds"] = time.monotonic() - started

print(json.dumps({"post": post, "saved": saved}), flush=True)
os._exit(0)  # lookups still running on the resolver pool would otherwise hold the exit
"""


def _run_behind_the_silent_resolver(tmp_path) -> dict:
    if shutil.which("unshare") is None:
        pytest.fail("util-linux unshare is needed to give the child its own /etc/resolv.conf")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {SILENT_RESOLVER}\noptions timeout:{RESOLVER_TIMEOUT_SECONDS} attempts:1\n")
    script = tmp_path / "lookup.py"
    script.write_text(CHILD)
    command = f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} {script}"
    finished = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
        cwd=PROJECT_ROOT,
        env=child_env(WILDCAT_WEBHOOK_ALLOWED_NETWORKS="", PYTHONPATH=str(PROJECT_ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_a_resolver_that_never_answers_is_cut_at_the_exchange_deadline(tmp_path):
    with _silent_resolver() as queries:
        result = _run_behind_the_silent_resolver(tmp_path)
    assert queries, "the child's lookups never reached the silent resolver"
    post = result["post"]
    # The post's whole 1 s budget covers the lookup; glibc alone would wait 8 s.
    assert post["code"] == "timeout", post
    assert "hooks.example.com" in post["message"]
    assert post["seconds"] < RESOLVER_TIMEOUT_SECONDS / 2, post
    # Saving a URL waits at most SAVE_TIME_LOOKUP_SECONDS, then leaves the name to the connect-time check.
    saved = result["saved"]
    assert saved["accepted"] is True, saved
    assert destinations.SAVE_TIME_LOOKUP_SECONDS <= saved["seconds"] < RESOLVER_TIMEOUT_SECONDS - 2, saved
