"""A real HTTP receiver on a local port, run in a thread, whose behaviour each test scripts."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    client_port: int = 0


@dataclass
class Reply:
    """What the receiver answers. ``hang`` sleeps before answering; ``reset`` drops the connection."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: float = 0.0
    reset: bool = False


Behaviour = Callable[[Received, int], Reply]


class Receiver:
    """Holds the server, the requests it got and the scripted behaviour (request, index) -> Reply."""

    def __init__(self, host: str, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def _handle(self) -> None:
                receiver._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Received(
            handler.command, handler.path, dict(handler.headers.items()), body, time.time(), handler.client_address[1]
        )
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        reply = self.behaviour(request, index)
        if reply.hang:
            self._stop.wait(reply.hang)
        if reply.reset:
            # SO_LINGER 0 makes close() send a RST instead of a FIN.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def always(reply: Reply) -> Behaviour:
    return lambda _request, _index: reply


def in_turn(*replies: Reply) -> Behaviour:
    """Answer with each reply in turn, then repeat the last one."""
    return lambda _request, index: replies[min(index, len(replies) - 1)]


@contextmanager
def receiving(behaviour: Behaviour | None = None, *, host: str = "127.0.0.1") -> Iterator[Receiver]:
    receiver = Receiver(host, behaviour or always(Reply()))
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.close()
