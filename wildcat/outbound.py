"""The one module that makes outbound HTTP; every socket it opens passes the SSRF guard first.

Each new socket resolves its name through ``destinations.resolve_checked`` and connects to exactly
a checked address (no second DNS lookup), while the Host header and TLS SNI/certificate checks keep
using the original name.

Every exchange (name lookup, connect, send, status line, headers, body) ends by one wall-clock
deadline: each socket call may wait only for what is left of it, so a receiver that trickles a byte
at a time cannot hold a thread longer than the timeout.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin

import requests.certs
from django.conf import settings

from wildcat import slots
from wildcat.destinations import OutboundError, resolve_checked, split_checked_cached

MAX_REDIRECTS = 3
EXCERPT_BYTES = 1024
USER_AGENT = "Wildcat/1.0"
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchedResource:
    content: bytes
    content_type: str
    url: str


@dataclass(frozen=True)
class PostResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    body_excerpt: bytes = b""


# --- Deadline-bound sockets ----------------------------------------------------------------


class _DeadlineBound:
    """Each blocking call waits only for what is left until ``deadline`` (a ``time.monotonic()``).

    A per-call timeout alone is not enough: a receiver answering one byte every few seconds never
    lets a single call time out.
    """

    deadline: float = float("inf")

    def _bound(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the exchange's deadline has passed")
        self.settimeout(remaining)  # type: ignore[attr-defined]

    def recv(self, *args: Any) -> bytes:
        self._bound()
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> int:
        self._bound()
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> int:
        self._bound()
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> None:
        self._bound()
        return super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_DeadlineBound, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineBound, ssl.SSLSocket):
    pass


def _open_checked_socket(host: str, port: int, deadline: float) -> socket.socket:
    """Resolve and check ``host`` once, then connect to the first checked address that answers."""
    last_error: OSError | None = None
    for family, sockaddr in resolve_checked(host, port, deadline):
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            sock.deadline = deadline
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock._bound()
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    assert last_error is not None
    raise last_error


class _GuardedHTTP(http.client.HTTPConnection):
    """Every (re)connect resolves and checks the name, then connects to exactly that address."""

    deadline: float = float("inf")

    def connect(self) -> None:
        self.sock = _open_checked_socket(self.host, self.port, self.deadline)


class _GuardedHTTPS(http.client.HTTPSConnection):
    deadline: float = float("inf")

    def connect(self) -> None:
        sock = _open_checked_socket(self.host, self.port, self.deadline)
        sock._bound()  # the handshake waits on the raw socket's timeout
        # SNI and the certificate check use the name, not the address connected to.
        tls = self._context.wrap_socket(sock, server_hostname=self.host)
        tls.deadline = self.deadline
        self.sock = tls


_tls_context_lock = threading.Lock()
_tls_context_cached: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """Certificate verification against the same trust store everywhere; TLS sockets keep the deadline."""
    global _tls_context_cached
    with _tls_context_lock:
        if _tls_context_cached is None:
            context = ssl.create_default_context(cafile=requests.certs.where())
            context.sslsocket_class = _DeadlineSSLSocket
            _tls_context_cached = context
        return _tls_context_cached


# --- Kept-alive connections ----------------------------------------------------------------

_local = threading.local()
_MAX_KEPT_ALIVE = 50
Connection = _GuardedHTTP | _GuardedHTTPS


def _kept_alive(parts: SplitResult, deadline: float) -> Connection:
    """This thread's connection to a destination, reused while the receiver keeps it open."""
    connections: dict[tuple[str, str, int], Connection] | None = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    key = (scheme, host, port)
    connection = connections.pop(key, None)
    if connection is not None and _dropped(connection):
        connection.close()  # closed by the receiver while idle: reconnect (and re-check) below
    if connection is None:
        # The port is always explicit: given none, http.client would read an IPv6 colon as one.
        if scheme == "https":
            connection = _GuardedHTTPS(host, port, context=_tls_context())
        else:
            connection = _GuardedHTTP(host, port)
    connection.deadline = deadline
    if connection.sock is not None:
        connection.sock.deadline = deadline
    connections[key] = connection  # most recently used last
    while len(connections) > _MAX_KEPT_ALIVE:
        connections.pop(next(iter(connections))).close()
    return connection


def _dropped(connection: Connection) -> bool:
    """An idle kept-alive socket that is readable has been closed (or spoken on) by the other side."""
    if connection.sock is None:
        return False
    try:
        readable, _writable, _failed = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


# --- Exchanges -----------------------------------------------------------------------------


def _exchange(
    method: str, url: str, *, body: bytes | None, headers: dict[str, str], deadline: float, timeout: float
) -> tuple[Connection, http.client.HTTPResponse]:
    """Send one request and read its status line and headers, all before ``deadline``."""
    parts = split_checked_cached(url)
    connection = _kept_alive(parts, deadline)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(method, target, body=body, headers={"User-Agent": USER_AGENT, **headers})
        return connection, connection.getresponse()
    except OutboundError:
        connection.close()
        raise
    except (OSError, http.client.HTTPException) as exc:
        connection.close()  # a half-done exchange leaves the connection unusable
        raise _translate_error(exc, url, timeout) from exc


def _read_body(
    connection: Connection, response: http.client.HTTPResponse, *, limit: int, url: str, timeout: float
) -> bytes:
    """Up to ``limit`` (+ one chunk) bytes; a body read to its end leaves the connection reusable."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise _translate_error(exc, url, timeout) from exc
    if response.length == 0:
        response.close()  # read to its end (``read1`` leaves an empty body's response open)
    if not response.isclosed():
        connection.close()  # unread bytes would corrupt the next exchange on this connection
    return b"".join(chunks)


def _translate_error(exc: BaseException, url: str, timeout: float) -> OutboundError:
    if isinstance(exc, TimeoutError):
        return OutboundError("timeout", f"{url}: no complete answer within {timeout:g} s")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return OutboundError("tls_error", f"{url}: TLS failed: {exc}")
    return OutboundError("connection_error", f"{url}: connection failed: {exc}")


# --- Public calls ---------------------------------------------------------------------------


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    """POST once (webhook attempts), all of it within ``timeout`` seconds. Redirects are not followed.

    Straight through ``http.client`` on a kept-alive connection per destination and thread: a
    webhook worker makes many small posts, and a client library's per-call machinery costs more CPU
    than the exchange itself. Every socket such a connection opens passes the connect-time check.
    """
    started = time.monotonic()
    connection, response = _exchange(
        "POST", url, body=body, headers=headers, deadline=started + timeout, timeout=timeout
    )
    try:
        excerpt = _read_body(connection, response, limit=EXCERPT_BYTES, url=url, timeout=timeout)
    except OutboundError:
        excerpt = b""  # the status line already arrived; a broken or slow body does not change the outcome
    return PostResult(
        status=response.status,
        headers=dict(response.getheaders()),
        elapsed=time.monotonic() - started,
        body_excerpt=excerpt[:EXCERPT_BYTES],
    )


def fetch(url: str, *, max_bytes: int, timeout: float, owner: str = "") -> FetchedResource:
    """GET a resource (media downloads) within ``timeout`` seconds in all, following a few redirects.

    Each hop is re-checked by the guard. How many fetches run at once is capped overall and per
    ``owner`` (an API key): past either cap this raises ``OutboundError("busy")`` at once.
    """
    with slots.slot_hold(
        "media-fetch",
        owner=owner,
        limit=settings.WILDCAT_MEDIA_FETCH_MAX_CONCURRENT,
        owner_limit=settings.WILDCAT_MEDIA_FETCH_MAX_CONCURRENT_PER_KEY,
        seconds=timeout,
    ) as held:
        if not held:
            raise OutboundError("busy", "too many media URLs are being fetched at once; try again shortly")
        return _fetch_following(url, max_bytes=max_bytes, timeout=timeout)


def _fetch_following(url: str, *, max_bytes: int, timeout: float) -> FetchedResource:
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        connection, response = _exchange("GET", current, body=None, headers={}, deadline=deadline, timeout=timeout)
        try:
            if response.status in _REDIRECTS and response.getheader("Location"):
                current = urljoin(current, response.getheader("Location", ""))
                continue
            return _fetched_body(connection, response, current, max_bytes=max_bytes, timeout=timeout)
        finally:
            connection.close()  # fetches are rare and go anywhere: keep no socket open in a web worker
    raise OutboundError("too_many_redirects", f"{url}: more than {MAX_REDIRECTS} redirects", permanent=True)


def _fetched_body(
    connection: Connection, response: http.client.HTTPResponse, url: str, *, max_bytes: int, timeout: float
) -> FetchedResource:
    if not 200 <= response.status < 300:
        permanent = 400 <= response.status < 500 and response.status not in {408, 429}
        raise OutboundError("http_status", f"{url}: HTTP {response.status}", permanent=permanent)
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError("too_large", f"{url}: {declared} bytes is over the {max_bytes} byte limit", permanent=True)
    content = _read_body(connection, response, limit=max_bytes, url=url, timeout=timeout)
    if len(content) > max_bytes:
        raise OutboundError("too_large", f"{url}: larger than the {max_bytes} byte limit", permanent=True)
    content_type = (response.getheader("Content-Type") or "").split(";", 1)[0].strip()
    return FetchedResource(content=content, content_type=content_type or "application/octet-stream", url=url)
