"""The SSRF guard: which destinations outbound HTTP may reach, and the checked name lookup.

Destinations are checked twice: ``validate_url`` when a URL is saved, and again at connect time
(``resolve_checked``) against the addresses the name actually resolved to, which are the only ones
the caller then connects to. The lookup itself has a deadline: it runs on a small resolver pool,
since ``getaddrinfo`` cannot be interrupted, so a resolver that never answers keeps one of those
threads until the system resolver gives up, not the caller.
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import os
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_NETWORKS_SETTING = "WILDCAT_WEBHOOK_ALLOWED_NETWORKS"
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
# Prefixes whose addresses embed an IPv4 address (NAT64 well-known and local-use prefixes, the
# IPv4-compatible and the SIIT IPv4-translated forms).
_IPV4_EMBEDDING_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
)
# Deprecated site-local unicast (RFC 3879): still routed inside some networks, and ``is_global``
# does not know it.
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
# Lookups running at once per process; more wait in the pool's queue, still under their deadline.
RESOLVER_THREADS = 8
# How long saving a URL waits for its name to resolve (an API request must not hang on DNS).
SAVE_TIME_LOOKUP_SECONDS = 3.0


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

    def __init__(self, reason: str) -> None:
        message = (
            f"{reason}. Only http(s) URLs to public addresses are allowed, plus the networks an operator "
            f"lists in {ALLOWED_NETWORKS_SETTING}."
        )
        super().__init__("unsafe_destination", message, permanent=True)


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
    if isinstance(ip, ipaddress.IPv6Address) and ip in _SITE_LOCAL:
        raise UnsafeDestination(f"{ip} is a site-local address")
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


def _is_local_name(name: str) -> bool:
    return name == "localhost" or name.endswith(".localhost") or name.startswith("localhost.")


def _check_host_name(host: str) -> None:
    """Refuse local names (RFC 6761: they mean loopback) unless an operator allowed loopback."""
    name = host.rstrip(".").lower()
    if not name:
        raise UnsafeDestination("the URL has no host")
    if _is_local_name(name) and not any(_LOOPBACK in network for network in _allowed_networks()):
        raise UnsafeDestination(f"{host!r} is a local name")


_resolver: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None
_resolver_lock = threading.Lock()


def _resolver_pool() -> concurrent.futures.ThreadPoolExecutor:
    """This process's resolver threads (a forked child starts its own: threads do not survive fork)."""
    global _resolver
    with _resolver_lock:
        if _resolver is None or _resolver[0] != os.getpid():
            pool = concurrent.futures.ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="wildcat-resolver")
            _resolver = (os.getpid(), pool)
        return _resolver[1]


def _lookup(host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` on the resolver pool, given up on at ``deadline`` (a ``time.monotonic()``)."""
    lookup = _resolver_pool().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except concurrent.futures.TimeoutError:
        lookup.cancel()  # if still queued; a running lookup finishes on its own and is discarded
        raise OutboundError("timeout", f"looking up {host!r} did not finish within the deadline") from None


def resolve_checked(host: str, port: int, deadline: float) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve ``host`` once, by ``deadline``, and check every address; returns (family, sockaddr) pairs."""
    literal = _literal_address(host)
    if literal is None:
        _check_host_name(host)
    else:
        check_address(literal)
    try:
        if literal is None:
            infos = _lookup(host, port, deadline)
        else:  # an address needs no resolver: no thread handoff
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
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

    A name that does not resolve yet, or not within ``SAVE_TIME_LOOKUP_SECONDS``, is accepted here:
    the connect-time check still guards it.
    """
    parts = split_checked(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        resolve_checked(parts.hostname or "", port, time.monotonic() + SAVE_TIME_LOOKUP_SECONDS)
    except UnsafeDestination:
        raise
    except OutboundError:
        return


def split_checked(url: str) -> SplitResult:
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
def split_checked_cached(url: str) -> SplitResult:
    """``split_checked`` for URLs posted to again and again (a refused URL raises every time: never cached)."""
    return split_checked(url)
