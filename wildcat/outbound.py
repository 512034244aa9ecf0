"""The one module that makes outbound HTTP, with the SSRF guard every request goes through.

Destinations are checked twice: ``validate_url`` when a URL is saved, and again at connect time
against the address the name actually resolved to. The connection is then opened to exactly that
checked address (no second DNS lookup), while the Host header and TLS SNI/certificate checks keep
using the original name.
"""

from __future__ import annotations

import functools
import http.client
import http.cookiejar
import ipaddress
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 3
EXCERPT_BYTES = 1024
USER_AGENT = "Wildcat/1.0"
_CHUNK = 64 * 1024
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
# Prefixes whose addresses embed an IPv4 address (NAT64 well-known and local-use prefixes).
_IPV4_EMBEDDING_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


class OutboundError(Exception):
    """An outbound request failed; ``permanent`` says whether retrying the same request can help."""

    def __init__(self, code: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class UnsafeDestination(OutboundError):
    """The destination is refused by the SSRF guard: it is never contacted."""

    def __init__(self, message: str) -> None:
        super().__init__("unsafe_destination", message, permanent=True)


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


# --- The guard -----------------------------------------------------------------------------


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS]


def _embeds_ipv4(ip: ipaddress.IPv6Address) -> bool:
    if ip.ipv4_mapped is not None or ip.sixtofour is not None or ip.teredo is not None:
        return True
    return any(ip in network for network in _IPV4_EMBEDDING_NETWORKS)


def check_address(ip: IPAddress) -> None:
    """Refuse anything but a plain global unicast address, unless an operator allowed its network."""
    if any(ip.version == network.version and ip in network for network in _allowed_networks()):
        return
    if isinstance(ip, ipaddress.IPv6Address) and _embeds_ipv4(ip):
        raise UnsafeDestination(f"{ip} embeds an IPv4 address")
    if ip.is_multicast:
        raise UnsafeDestination(f"{ip} is a multicast address")
    if not ip.is_global:
        raise UnsafeDestination(f"{ip} is not a public address")


def _literal_address(host: str) -> IPAddress | None:
    """Parse a host that is an IP literal; refuse integer, hex, octal and shortened IPv4 forms."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels):
        # A valid DNS name never has an all-numeric top-level label; these are IP shorthands
        # (``2130706433``, ``0x7f000001``, ``127.1``, ``0177.0.0.1``) that resolvers expand.
        raise UnsafeDestination(f"{host!r} is a non-canonical IP address form")
    return None


def _check_host_name(host: str) -> None:
    name = host.rstrip(".").lower()
    if not name:
        raise UnsafeDestination("the URL has no host")
    if name == "localhost" or name.endswith(".localhost") or name.startswith("localhost."):
        raise UnsafeDestination(f"{host!r} is a local name")


def resolve_checked(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve ``host`` once and check every address; returns (family, sockaddr) pairs to connect to."""
    literal = _literal_address(host)
    if literal is None:
        _check_host_name(host)
    else:
        check_address(literal)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError("dns_error", f"cannot resolve {host!r}: {exc}") from exc
    except (UnicodeError, ValueError) as exc:
        raise UnsafeDestination(f"{host[:100]!r} is not a valid host name") from exc
    if not infos:
        raise OutboundError("dns_error", f"{host!r} has no addresses")
    # Any refused address refuses the name: a resolver may answer differently next time.
    for _family, _type, _proto, _canon, sockaddr in infos:
        check_address(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
    return [(family, sockaddr) for family, _type, _proto, _canon, sockaddr in infos]


def validate_url(url: str) -> None:
    """Save-time check of a destination URL; raises UnsafeDestination when it is refused.

    A name that does not resolve yet is accepted here: the connect-time check still guards it.
    """
    parts = _split(url)
    try:
        resolve_checked(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except UnsafeDestination:
        raise
    except OutboundError:
        return


def _split(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UnsafeDestination(f"malformed URL: {exc}") from exc
    if parts.scheme not in {"http", "https"}:
        raise UnsafeDestination(f"scheme {parts.scheme!r} is not allowed; use http or https")
    host = parts.hostname or ""
    if not host:
        raise UnsafeDestination("the URL has no host")
    if _literal_address(host) is None:
        _check_host_name(host)
    return parts


@functools.lru_cache(maxsize=1024)
def _split_cached(url: str):
    """``_split`` for URLs posted to again and again (a refused URL raises every time: never cached)."""
    return _split(url)


# --- Pinned connections --------------------------------------------------------------------


def _connect_checked(conn: HTTPConnection) -> socket.socket:
    """Open the socket to an address that passed the guard; the name is never resolved again."""
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None  # urllib3's "default" sentinel
    return _open_checked_socket(conn._dns_host, conn.port, timeout)


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self)


def _guarded_new_conn(conn: HTTPConnection) -> socket.socket:
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    try:
        sock = _connect_checked(conn)
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc
    except OutboundError:
        raise
    except OSError as exc:
        raise NewConnectionError(conn, f"failed to connect: {exc}") from exc
    return sock


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


_local = threading.local()


def _session() -> requests.Session:
    """One session per thread, so connections to a receiver are kept alive between requests.

    Every new connection passes the connect-time check; a pooled one was checked when it was opened.
    """
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = _new_session()
    return session


def _new_session() -> requests.Session:
    session = requests.Session()
    # Proxies from the environment would connect somewhere other than the checked address.
    session.trust_env = False
    # The session is shared by every destination this thread talks to: never carry cookies over.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _translate(exc: requests.RequestException, url: str) -> OutboundError:
    if isinstance(exc, requests.Timeout):
        return OutboundError("timeout", f"{url}: timed out")
    if isinstance(exc, requests.exceptions.SSLError):
        return OutboundError("tls_error", f"{url}: TLS failed: {exc}")
    if isinstance(exc, requests.ConnectionError):
        return OutboundError("connection_error", f"{url}: connection failed: {exc}")
    return OutboundError("request_error", f"{url}: {exc}")


def _request(method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    _split(url)
    try:
        return _session().request(method, url, timeout=(timeout, timeout), allow_redirects=False, stream=True, **kwargs)
    except requests.RequestException as exc:
        raise _translate(exc, url) from exc


def _read_limited(response: requests.Response, *, limit: int, deadline: float, url: str) -> bytes:
    """Read at most ``limit`` (+ one chunk) bytes; a body read to its end frees the connection for reuse."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
            if time.monotonic() > deadline:
                raise OutboundError("timeout", f"{url}: the body took too long")
    except requests.RequestException as exc:
        raise _translate(exc, url) from exc
    return b"".join(chunks)


# --- Public calls ---------------------------------------------------------------------------


def fetch(url: str, *, max_bytes: int, timeout: float) -> FetchedResource:
    """GET a resource (media downloads), following a few redirects, each hop re-checked."""
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        response = _request("GET", current, timeout=timeout)
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                current = urljoin(current, location)
                continue
            return _fetched_body(response, current, max_bytes=max_bytes, deadline=deadline)
    raise OutboundError("too_many_redirects", f"{url}: more than {MAX_REDIRECTS} redirects", permanent=True)


def _fetched_body(response: requests.Response, url: str, *, max_bytes: int, deadline: float) -> FetchedResource:
    if not 200 <= response.status_code < 300:
        permanent = 400 <= response.status_code < 500 and response.status_code not in {408, 429}
        raise OutboundError("http_status", f"{url}: HTTP {response.status_code}", permanent=permanent)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError("too_large", f"{url}: {declared} bytes is over the {max_bytes} byte limit", permanent=True)
    content = _read_limited(response, limit=max_bytes, deadline=deadline, url=url)
    if len(content) > max_bytes:
        raise OutboundError("too_large", f"{url}: larger than the {max_bytes} byte limit", permanent=True)
    content_type = response.headers.get("Content-Type", "application/octet-stream").split(";", 1)[0].strip()
    return FetchedResource(content=content, content_type=content_type or "application/octet-stream", url=url)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    """POST once (webhook attempts). Redirects are returned as they are, never followed.

    Straight through ``http.client`` on a kept-alive connection per destination and thread: a
    webhook worker makes many small posts, and a client library's per-call machinery costs more CPU
    than the exchange itself. Every socket such a connection opens passes the connect-time check.
    """
    parts = _split_cached(url)
    started = time.monotonic()
    connection = _kept_alive(parts.scheme, parts.hostname or "", parts.port, timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("POST", target, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        excerpt = _post_excerpt(connection, response, deadline=started + timeout)
    except OutboundError:
        connection.close()
        raise
    except (OSError, http.client.HTTPException) as exc:
        connection.close()  # a half-done exchange leaves the connection unusable
        raise _translate_post_error(exc, url) from exc
    return PostResult(
        status=response.status,
        headers=dict(response.getheaders()),
        elapsed=time.monotonic() - started,
        body_excerpt=excerpt[:EXCERPT_BYTES],
    )


class _GuardedPostHTTP(http.client.HTTPConnection):
    """Every (re)connect resolves and checks the name, then connects to exactly that address."""

    def connect(self) -> None:
        self.sock = _open_checked_socket(self.host, self.port, self.timeout)


class _GuardedPostHTTPS(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = _open_checked_socket(self.host, self.port, self.timeout)
        # SNI and the certificate check use the name, not the address connected to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _open_checked_socket(host: str, port: int, timeout: float | None) -> socket.socket:
    """Resolve and check ``host`` once, then connect to the first checked address that answers."""
    last_error: OSError | None = None
    for family, sockaddr in resolve_checked(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    assert last_error is not None
    raise last_error


_MAX_KEPT_ALIVE = 50


def _kept_alive(scheme: str, host: str, port: int | None, timeout: float) -> http.client.HTTPConnection:
    """This thread's connection to a destination, reused while the receiver keeps it open."""
    connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] | None = getattr(
        _local, "post_connections", None
    )
    if connections is None:
        connections = _local.post_connections = {}
    port = port or (443 if scheme == "https" else 80)
    key = (scheme, host, port)
    connection = connections.pop(key, None)
    if connection is not None and _dropped(connection):
        connection.close()  # closed by the receiver while idle: reconnect (and re-check) below
    if connection is None:
        # The port is always explicit: given none, http.client would read an IPv6 colon as one.
        if scheme == "https":
            connection = _GuardedPostHTTPS(host, port, timeout=timeout, context=_tls_context())
        else:
            connection = _GuardedPostHTTP(host, port, timeout=timeout)
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    connections[key] = connection  # most recently used last
    while len(connections) > _MAX_KEPT_ALIVE:
        connections.pop(next(iter(connections))).close()
    return connection


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has been closed (or spoken on) by the other side."""
    if connection.sock is None:
        return False
    try:
        readable, _writable, _failed = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_tls_context_lock = threading.Lock()
_tls_context_cached: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """Certificate verification against the same trust store as every other outbound call."""
    global _tls_context_cached
    with _tls_context_lock:
        if _tls_context_cached is None:
            _tls_context_cached = ssl.create_default_context(cafile=requests.certs.where())
        return _tls_context_cached


def _post_excerpt(
    connection: http.client.HTTPConnection, response: http.client.HTTPResponse, *, deadline: float
) -> bytes:
    """The start of the body; a body read to its end leaves the connection ready for the next post."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= EXCERPT_BYTES and time.monotonic() <= deadline:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, http.client.HTTPException):
        # The status line already arrived; a broken body does not change the outcome.
        chunks = []
    if response.length == 0:
        response.close()  # read to its end (``read1`` leaves an empty body's response open)
    if not response.isclosed():
        connection.close()  # unread bytes would corrupt the next exchange on this connection
    return b"".join(chunks)


def _translate_post_error(exc: BaseException, url: str) -> OutboundError:
    if isinstance(exc, TimeoutError):
        return OutboundError("timeout", f"{url}: timed out")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return OutboundError("tls_error", f"{url}: TLS failed: {exc}")
    return OutboundError("connection_error", f"{url}: connection failed: {exc}")
