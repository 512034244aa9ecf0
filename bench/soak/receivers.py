"""Webhook receivers for the soak: one that always answers 2xx, one that misbehaves on first attempts.

A receiver counts a delivery only when it answered it with 2xx, keyed by its `webhook-id`, and keeps the
text of every event it accepted so the soak can find its probes in them.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A sender killed mid-request (the soak does that) resets its connection: expected, not news."""


class SoakReceiver:
    """Answers 200, or, for a share of each webhook-id's first attempt, 500, a stall past the sender's
    timeout, or a status line trickled one byte at a time. Later attempts of the same id succeed."""

    def __init__(self, *, name: str, misbehave_share: float = 0.0, stall_seconds: float = 8.0) -> None:
        self.name = name
        self.accepted: set[str] = set()
        self.accepted_bodies: list[str] = []
        self.behaviours: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.ok_counts: Counter[str] = Counter()  # 2xx answers per webhook-id
        self._lock = threading.Lock()
        self._misbehave_share = misbehave_share
        self._stall_seconds = stall_seconds
        self._random = random.Random(name)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
                receiver.answer(self, self.headers.get("webhook-id", ""), body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{name}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"receiver-{name}").start()

    def _behaviour_for(self, webhook_id: str) -> str:
        with self._lock:
            self.attempts[webhook_id] += 1
            first = self.attempts[webhook_id] == 1
            roll = self._random.random()
        if not first or roll >= self._misbehave_share:
            return "ok"
        return ("error", "stall", "trickle")[int(roll / self._misbehave_share * 3) % 3]

    def answer(self, handler: BaseHTTPRequestHandler, webhook_id: str, body: str) -> None:
        behaviour = self._behaviour_for(webhook_id)
        with self._lock:
            self.behaviours[behaviour] += 1
        if behaviour == "error":
            self._reply(handler, 500)
        elif behaviour == "stall":
            time.sleep(self._stall_seconds)
            self._reply(handler, 500)
        elif behaviour == "trickle":
            self._trickle(handler)
        else:
            with self._lock:
                self.accepted.add(webhook_id)
                self.ok_counts[webhook_id] += 1
                self.accepted_bodies.append(body)
            self._reply(handler, 200)

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        """A 500 status line sent one byte every half second: only a whole-exchange deadline cuts it."""
        try:
            for byte in b"HTTP/1.1 500 Internal Server Error\r\n":
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.5)
            handler.wfile.write(b"Content-Length: 0\r\n\r\n")
        except OSError:
            return
        handler.close_connection = True

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            handler.close_connection = True

    def seen_text(self, token: str) -> bool:
        with self._lock:
            return any(token in body for body in self.accepted_bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def port_is_open(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.create_connection((host, int(port)), timeout=1):
        return True
