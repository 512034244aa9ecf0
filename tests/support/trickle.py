"""A real TCP server that answers HTTP one byte at a time: the slow receiver that per-read timeouts miss."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# A complete, valid answer: a client with only per-read timeouts gets it all, just very late.
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"o" * 20


@dataclass
class Trickler:
    """Where it listens and what it saw: one entry per request, with when its answer began and ended."""

    port: int
    interval: float
    headers_first: bool
    requests: list[str] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


def _read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return ""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n", 1)[0].decode()


def _serve(trickler: Trickler, conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        request_line = _read_request(conn)
        if not request_line:
            return
        with trickler._lock:
            trickler.requests.append(request_line)
        body_at = RESPONSE.index(b"\r\n\r\n") + 4
        try:
            if trickler.headers_first:
                conn.sendall(RESPONSE[:body_at])
            for index in range(body_at if trickler.headers_first else 0, len(RESPONSE)):
                if stop.wait(trickler.interval):
                    return
                conn.sendall(RESPONSE[index : index + 1])
        except OSError:  # the client gave up and closed: that is the point
            with trickler._lock:
                trickler.cut.append(time.monotonic())


@contextmanager
def trickling(*, interval: float = 0.2, headers_first: bool = False) -> Iterator[Trickler]:
    """Serve on 127.0.0.1; every request gets ``RESPONSE`` at one byte per ``interval`` seconds.

    ``headers_first`` sends the status line and headers at once and trickles only the body.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    stop = threading.Event()
    trickler = Trickler(port=listener.getsockname()[1], interval=interval, headers_first=headers_first)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=_serve, args=(trickler, conn, stop), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield trickler
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
