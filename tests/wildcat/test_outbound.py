"""The outbound HTTP module against real local receivers: SSRF guard, pinning, limits, failures."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time

import pytest
import redis

from tests.support.http_receiver import Reply, always, in_turn, receiving
from tests.support.processes import wait_until
from tests.support.trickle import trickling
from wildcat import destinations, outbound
from wildcat.destinations import OutboundError, UnsafeDestination

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def no_allowed_networks(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture
def loopback_allowed(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK


def _local_name() -> tuple[str, str]:
    """A name this machine resolves without any DNS server, and the local IPv4 address it resolves to.

    Which address that is depends on the host (127.0.0.1, Debian's 127.0.1.1, a container's own
    address): the tests listen on exactly that address, so they run the same on every host.
    """
    for name in (socket.gethostname(), "localhost4", "localhost"):
        try:
            infos = socket.getaddrinfo(name, 80, family=socket.AF_INET, type=socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        addresses = {info[4][0] for info in infos}
        if addresses and all(not ipaddress.ip_address(address).is_global for address in addresses):
            return name, sorted(addresses)[0]
    pytest.fail("no local name resolves to a non-public IPv4 address on this machine")


SSRF_MATRIX = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://[::ffff:0:7f00:1]/",
    "http://[::ffff:0:808:808]/",
    "file:///etc/passwd",
    "ftp://8.8.8.8/",
    "gopher://8.8.8.8:70/",
    "http:///nohost",
    "http://8.8.8.8:notaport/",
    "http://" + "a" * 70 + ".example.com/",
]


@pytest.mark.parametrize("url", SSRF_MATRIX)
def test_ssrf_matrix_is_refused_at_save_time(no_allowed_networks, url):
    with pytest.raises(UnsafeDestination) as refused:
        destinations.validate_url(url)
    # Whoever reads the refusal learns which setting opens a network.
    assert "WILDCAT_WEBHOOK_ALLOWED_NETWORKS" in str(refused.value)
    assert "WILDCAT_WEBHOOK_ALLOWED_NETWORKS" in refused.value.message


@pytest.mark.parametrize("url", SSRF_MATRIX)
def test_ssrf_matrix_is_refused_at_send_time(no_allowed_networks, url):
    with pytest.raises(UnsafeDestination):
        outbound.post(url, body=b"{}", headers={}, timeout=2)
    with pytest.raises(UnsafeDestination):
        outbound.fetch(url, max_bytes=1024, timeout=2)


@pytest.mark.parametrize(
    ("accepted", "refused"),
    [
        ("https://8.8.8.8/hook", "https://10.8.8.8/hook"),
        ("http://[2001:4860:4860::8888]:8443/hook", "http://[fc00::8888]:8443/hook"),
        # No DNS here: an unresolvable name is left to the connect-time check; a local name is not.
        ("https://hooks.example.invalid/hook", "https://hooks.localhost/hook"),
    ],
)
def test_public_addresses_and_unresolvable_names_pass_the_save_time_check(no_allowed_networks, accepted, refused):
    assert destinations.validate_url(accepted) is None
    # The same shape with a private destination is refused, so the check above ran the guard.
    with pytest.raises(UnsafeDestination):
        destinations.validate_url(refused)


def test_a_name_resolving_to_a_local_address_is_refused_and_never_contacted(no_allowed_networks):
    name, address = _local_name()
    with receiving(host=address) as receiver:
        url = f"http://{name}:{receiver.port}/hook"
        with pytest.raises(UnsafeDestination):
            destinations.validate_url(url)
        with pytest.raises(UnsafeDestination):
            outbound.post(url, body=b"{}", headers={}, timeout=2)
        assert receiver.count() == 0


def test_allowed_networks_let_a_receiver_through_and_keep_the_host_header(settings):
    name, address = _local_name()
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = [f"{address}/32"]
    with receiving(host=address) as receiver:
        result = outbound.post(
            f"http://{name}:{receiver.port}/hook", body=b'{"a": 1}', headers={"X-Test": "1"}, timeout=5
        )
        assert result.status == 200
        assert receiver.requests[0].headers["Host"] == f"{name}:{receiver.port}"
        assert receiver.requests[0].body == b'{"a": 1}'
        assert receiver.requests[0].headers["X-Test"] == "1"


def test_allowed_networks_do_not_open_other_private_ranges(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    destinations.validate_url("http://127.0.0.1:9/")
    with pytest.raises(UnsafeDestination):
        destinations.validate_url("http://127.0.0.2:9/")
    with pytest.raises(UnsafeDestination):
        destinations.validate_url("http://10.0.0.1/")


def test_fetch_refuses_a_redirect_to_a_private_address_and_never_calls_it(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with receiving(host="127.0.0.2") as private, receiving() as public:
        public.behaviour = always(Reply(status=302, headers={"Location": f"{private.url}/secret"}))
        with pytest.raises(UnsafeDestination):
            outbound.fetch(f"{public.url}/media", max_bytes=1024, timeout=5)
        assert public.count() == 1
        assert private.count() == 0


def test_fetch_follows_a_few_allowed_redirects_then_stops(loopback_allowed):
    with receiving() as receiver:
        receiver.behaviour = lambda request, _index: (
            Reply(body=b"media-bytes", headers={"Content-Type": "image/png; q=1"})
            if request.path == "/final"
            else Reply(status=301, headers={"Location": "/final"})
        )
        fetched = outbound.fetch(f"{receiver.url}/start", max_bytes=1024, timeout=5)
        assert fetched.content == b"media-bytes"
        assert fetched.content_type == "image/png"
        assert fetched.url == f"{receiver.url}/final"

        receiver.behaviour = always(Reply(status=302, headers={"Location": "/loop"}))
        before = receiver.count()
        with pytest.raises(OutboundError) as caught:
            outbound.fetch(f"{receiver.url}/loop", max_bytes=1024, timeout=5)
        assert caught.value.code == "too_many_redirects"
        assert receiver.count() - before == outbound.MAX_REDIRECTS + 1


def test_fetch_stops_reading_past_max_bytes(loopback_allowed):
    with receiving(always(Reply(body=b"x" * 5000))) as receiver:
        with pytest.raises(OutboundError) as caught:
            outbound.fetch(receiver.url, max_bytes=4096, timeout=5)
        assert caught.value.code == "too_large"
        assert caught.value.permanent
        assert outbound.fetch(receiver.url, max_bytes=5000, timeout=5).content == b"x" * 5000


def test_fetch_reports_http_errors_as_permanent_or_not(loopback_allowed):
    with receiving(in_turn(Reply(status=404), Reply(status=503))) as receiver:
        with pytest.raises(OutboundError) as not_found:
            outbound.fetch(receiver.url, max_bytes=1024, timeout=5)
        with pytest.raises(OutboundError) as unavailable:
            outbound.fetch(receiver.url, max_bytes=1024, timeout=5)
    assert (not_found.value.code, not_found.value.permanent) == ("http_status", True)
    assert (unavailable.value.code, unavailable.value.permanent) == ("http_status", False)


def test_post_never_follows_redirects(loopback_allowed):
    with receiving() as target, receiving() as receiver:
        receiver.behaviour = always(Reply(status=308, headers={"Location": f"{target.url}/elsewhere"}))
        result = outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
        assert result.status == 308
        assert result.headers["Location"].endswith("/elsewhere")
        assert target.count() == 0


def test_post_returns_status_headers_elapsed_and_a_1kb_excerpt(loopback_allowed):
    with receiving(always(Reply(status=201, headers={"Retry-After": "7"}, body=b"y" * 5000))) as receiver:
        result = outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
    assert result.status == 201
    assert result.headers["Retry-After"] == "7"
    assert result.body_excerpt == b"y" * 1024
    assert 0 < result.elapsed < 5


def test_post_times_out_on_a_hanging_receiver(loopback_allowed):
    with receiving(always(Reply(hang=5))) as receiver, pytest.raises(OutboundError) as caught:
        outbound.post(receiver.url, body=b"{}", headers={}, timeout=0.5)
    assert caught.value.code == "timeout"
    assert not caught.value.permanent


def test_post_reports_a_connection_reset(loopback_allowed):
    with receiving(always(Reply(reset=True))) as receiver, pytest.raises(OutboundError) as caught:
        outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
    assert caught.value.code == "connection_error"
    assert not caught.value.permanent


def test_post_reports_a_refused_connection(loopback_allowed):
    with receiving() as receiver:
        port = receiver.port
    with pytest.raises(OutboundError) as caught:
        outbound.post(f"http://127.0.0.1:{port}/", body=b"{}", headers={}, timeout=5)
    assert caught.value.code == "connection_error"


def _self_signed_tls_server(tmp_path, name: str, address: str):
    """An HTTPS server on ``address`` presenting a self-signed certificate for ``name``."""
    import datetime
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return None

        def do_POST(self):
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer((address, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen, sni


def test_https_keeps_sni_and_certificate_verification_on_the_pinned_connection(settings, tmp_path):
    name, address = _local_name()
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = [f"{address}/32"]
    server, seen, sni = _self_signed_tls_server(tmp_path, name, address)
    try:
        with pytest.raises(OutboundError) as caught:
            outbound.post(f"https://{name}:{server.server_address[1]}/hook", body=b"{}", headers={}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    # The untrusted certificate is refused, and the handshake carried the name, not the address.
    assert caught.value.code == "tls_error"
    assert sni == [name]
    assert seen == []


def test_cookies_set_by_one_receiver_are_never_sent_again(loopback_allowed):
    cookie = {"Set-Cookie": "session=tenant-a; Path=/"}
    with receiving(always(Reply(headers=cookie))) as receiver:
        outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
        outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
        outbound.fetch(receiver.url, max_bytes=1024, timeout=5)
    assert receiver.count() == 3
    assert all("Cookie" not in request.headers for request in receiver.requests)


def test_connections_are_kept_alive_between_posts(loopback_allowed):
    with receiving() as receiver:
        for _ in range(3):
            outbound.post(receiver.url, body=b"{}", headers={}, timeout=5)
    assert receiver.count() == 3
    assert len({request.client_port for request in receiver.requests}) == 1


def test_a_kept_alive_connection_closed_by_the_receiver_while_idle_is_replaced(loopback_allowed):
    """A receiver's idle timeout closes the socket between posts: the next post reconnects, not fails."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []
    closed = threading.Semaphore(0)

    def serve() -> None:
        for _ in range(2):
            conn, address = listener.accept()
            accepted.append(address[1])
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            # Closed right after answering, the way an idle timeout closes a kept-alive connection.
            closed.release()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    try:
        first = outbound.post(url, body=b"", headers={}, timeout=5)
        # The receiver has closed its end (on loopback its FIN is queued to us by then) while ours sits idle.
        assert closed.acquire(timeout=5)
        second = outbound.post(url, body=b"", headers={}, timeout=5)
        server.join(timeout=5)
    finally:
        listener.close()
    assert (first.status, second.status) == (200, 200)
    assert (first.body_excerpt, second.body_excerpt) == (b"ok", b"ok")
    assert len(set(accepted)) == 2  # a second connection, opened (and checked) for the second post


def test_site_local_and_ipv4_translated_addresses_are_refused_with_the_reason(no_allowed_networks):
    with pytest.raises(UnsafeDestination) as site_local:
        destinations.check_address(ipaddress.ip_address("fec0::1"))
    with pytest.raises(UnsafeDestination) as translated:
        destinations.check_address(ipaddress.ip_address("::ffff:0:808:808"))
    assert "site-local" in site_local.value.message
    assert "embeds an IPv4 address" in translated.value.message


@pytest.mark.parametrize("headers_first", [False, True], ids=["status-line", "body"])
def test_post_to_a_trickling_receiver_is_cut_at_the_deadline(loopback_allowed, headers_first):
    """One byte every 0.2 s never trips a per-read timeout; the whole exchange still ends at 1 s."""
    with trickling(interval=0.2, headers_first=headers_first) as receiver:
        started = time.monotonic()
        if headers_first:  # the status arrived in time: that is the outcome, the slow body is dropped
            result = outbound.post(receiver.url, body=b"{}", headers={}, timeout=1.0)
            assert (result.status, result.body_excerpt) == (200, b"")
        else:
            with pytest.raises(OutboundError) as caught:
                outbound.post(receiver.url, body=b"{}", headers={}, timeout=1.0)
            assert caught.value.code == "timeout" and not caught.value.permanent
        elapsed = time.monotonic() - started
    assert receiver.count() == 1
    assert 0.9 <= elapsed < 1.6


@pytest.mark.parametrize("headers_first", [False, True], ids=["headers", "body"])
def test_fetch_from_a_trickling_server_is_cut_at_the_deadline(loopback_allowed, headers_first):
    with trickling(interval=0.2, headers_first=headers_first) as server:
        started = time.monotonic()
        with pytest.raises(OutboundError) as caught:
            outbound.fetch(f"{server.url}/media", max_bytes=1024, timeout=1.0)
        elapsed = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert 0.9 <= elapsed < 1.6


def _hold_fetch(url: str, owner: str) -> threading.Thread:
    thread = threading.Thread(target=_fetch_quietly, args=(url, owner), daemon=True)
    thread.start()
    return thread


def _fetch_quietly(url: str, owner: str) -> None:
    with contextlib.suppress(OutboundError):
        outbound.fetch(url, max_bytes=1024, timeout=1.5, owner=owner)


def _check_fetch_caps(settings) -> None:
    settings.WILDCAT_MEDIA_FETCH_MAX_CONCURRENT = 2
    settings.WILDCAT_MEDIA_FETCH_MAX_CONCURRENT_PER_KEY = 1
    with trickling(interval=0.2) as slow, receiving(always(Reply(body=b"fast"))) as fast:
        first = _hold_fetch(f"{slow.url}/a", "key:1")
        wait_until(lambda: slow.count() == 1, timeout=5, message="the first fetch holds its slot")
        with pytest.raises(OutboundError) as same_key:
            outbound.fetch(fast.url, max_bytes=1024, timeout=5, owner="key:1")
        assert outbound.fetch(fast.url, max_bytes=1024, timeout=5, owner="key:2").content == b"fast"
        second = _hold_fetch(f"{slow.url}/b", "key:2")
        wait_until(lambda: slow.count() == 2, timeout=5, message="the second fetch holds its slot")
        with pytest.raises(OutboundError) as overall:
            outbound.fetch(fast.url, max_bytes=1024, timeout=5, owner="key:3")
        first.join(timeout=5)
        second.join(timeout=5)
        # Slots come back when the fetches end (cut at their deadline here).
        assert outbound.fetch(fast.url, max_bytes=1024, timeout=5, owner="key:1").content == b"fast"
    assert (same_key.value.code, overall.value.code) == ("busy", "busy")
    assert fast.count() == 2  # the refused fetches never reached the server


def test_media_fetches_are_capped_overall_and_per_key_within_a_process(loopback_allowed, settings):
    _check_fetch_caps(settings)


@pytest.mark.redis
def test_media_fetches_are_capped_overall_and_per_key_across_processes(loopback_allowed, settings, redis_url):
    _check_fetch_caps(settings)
    assert not redis.Redis.from_url(redis_url).zcard("wildcat:slots:media-fetch")  # every slot given back
