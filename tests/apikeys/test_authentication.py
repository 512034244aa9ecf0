"""Authentication by header, the one 401 for every bad key, revocation, and hostile headers."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apikeys import keys, records
from apikeys.services import apikey_revoke
from tests.apikeys.factories import ApiKeyFactory, RevokedApiKeyFactory
from wildcat.redis_client import get_redis

pytestmark = pytest.mark.django_db
ME = "/api/v1/me"


def _assert_401(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "A valid API key is required: send the header Authorization: Bearer <key> or X-API-Key: <key>.",
            "details": {},
        }
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bearer_and_x_api_key_both_authenticate():
    api_key = ApiKeyFactory()
    bearer = APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    header = APIClient().get(ME, HTTP_X_API_KEY=api_key.secret)
    for response in (bearer, header):
        assert response.status_code == 200, response.content
        assert response.json()["id"] == api_key.pk
        assert response.json()["prefix"] == api_key.token_prefix
        assert response.json()["label"] == api_key.label


def test_missing_malformed_unknown_and_revoked_keys_get_the_same_401():
    revoked = RevokedApiKeyFactory()
    unknown = keys.generate_key()  # well formed, checksum right, not in the database
    body = unknown[8:40]
    wrong_checksum = f"wc_live_{body}{'000000' if not unknown.endswith('000000') else '111111'}"
    cases = [
        {},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_AUTHORIZATION": "Bearer not-a-key"},
        {"HTTP_AUTHORIZATION": f"Basic {unknown}"},
        {"HTTP_AUTHORIZATION": f"Bearer {unknown}"},
        {"HTTP_AUTHORIZATION": f"Bearer {wrong_checksum}"},
        {"HTTP_X_API_KEY": revoked.secret},
        {"HTTP_AUTHORIZATION": f"Bearer {revoked.secret}"},
    ]
    for headers in cases:
        _assert_401(APIClient().get(ME, **headers))


def test_wrong_checksum_is_refused_without_a_database_query(django_assert_num_queries):
    real = ApiKeyFactory()
    typo = real.secret[:-1] + ("a" if real.secret[-1] != "a" else "b")
    with django_assert_num_queries(0):
        _assert_401(APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {typo}"))


def test_oversized_authorization_header_is_a_401_not_a_500():
    ApiKeyFactory()
    _assert_401(APIClient().get(ME, HTTP_AUTHORIZATION="Bearer " + "wc_live_" + "A" * 64_000))
    _assert_401(APIClient().get(ME, HTTP_X_API_KEY="B" * 64_000))


def test_non_ascii_keys_are_a_401_not_a_500():
    api_key = ApiKeyFactory()
    accented = api_key.secret[:-2] + "é" + api_key.secret[-1]
    # WSGI hands headers over as latin-1 text; both spellings must be refused cleanly.
    _assert_401(APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {accented}"))
    _assert_401(APIClient().get(ME, HTTP_X_API_KEY="wc_live_" + "ü" * 38))
    _assert_401(APIClient().get(ME, HTTP_AUTHORIZATION="Bearer wc_live_\x00\x01" + "a" * 36))


def test_revoked_key_is_refused_from_the_next_request(redis_url):
    api_key = ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert client.get(ME).status_code == 200  # now cached in Redis
    apikey_revoke(api_key=api_key)
    _assert_401(client.get(ME))
    api_key.refresh_from_db()
    assert api_key.status == "revoked" and api_key.revoked_at is not None


def test_admin_session_does_not_authenticate_the_api(admin_client):
    _assert_401(admin_client.get(ME))


def test_me_body_matches_its_documented_serializer():
    """Through the file cache in the embedded pass, through Redis in the production pass."""
    from apikeys.api.views import MeSerializer

    api_key = ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    body = client.get(ME).json()
    api_key.refresh_from_db()
    expected = MeSerializer(
        {
            "id": api_key.pk,
            "label": api_key.label,
            "prefix": api_key.token_prefix,
            "created_at": api_key.created_at,
            "usage": {"count": 1, "last_used_at": api_key.last_used_at},
        }
    ).data
    assert body == expected
    assert body["created_at"].endswith("Z")


def test_redis_down_is_a_503_in_the_error_format_not_a_500(settings):
    import socket

    from wildcat.redis_client import _client_for

    api_key = ApiKeyFactory()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    _client_for.cache_clear()
    response = APIClient(raise_request_exception=False).get(ME, HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_request_racing_the_revoke_cannot_re_cache_the_key_as_active(redis_url):
    from apikeys import records
    from wildcat.redis_client import get_redis

    api_key = ApiKeyFactory()
    stale_record = records.record_from_db(api_key.token_hash)  # read just before the revoke commits
    assert stale_record["status"] == "active"
    apikey_revoke(api_key=api_key)
    records.store_in_redis(get_redis(), api_key.token_hash, stale_record)  # the racing request's cache fill
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    _assert_401(client.get(ME))


@pytest.mark.django_db(transaction=True)
def test_a_revoked_marker_outlives_forgets_and_stale_fills():
    """A usage flush forgets cached records; a request that read the row before the revoke then fills
    the slot. The revoked marker stays, so the key is never re-cached as active. Each pass runs its own
    shape: Redis in the production pass, the file cache in the embedded one."""
    redis = get_redis()
    api_key, other = ApiKeyFactory(), ApiKeyFactory()
    stale_record = records.record_from_db(api_key.token_hash)
    apikey_revoke(api_key=api_key)
    records.lookup_in_cache(other.token_hash)
    records.forget(api_key.token_hash, other.token_hash)  # what the usage flush does
    if redis is not None:
        records.store_in_redis(redis, api_key.token_hash, stale_record)
        assert redis.ttl(records.redis_key(api_key.token_hash)) == -1, "the marker does not expire"
    else:
        cache.add(records.cache_key(api_key.token_hash), stale_record, 60)
    assert records.lookup_in_cache(api_key.token_hash)["status"] == "revoked"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    _assert_401(client.get(ME))
    assert cache.get(records.cache_key(other.token_hash)) is None, "other records are still forgotten"


def test_failed_authentications_are_throttled_per_client_address(settings):
    settings.WILDCAT_AUTH_FAILURE_RATE = "3/min"
    api_key = ApiKeyFactory()
    guesser = APIClient(REMOTE_ADDR="192.0.2.10")
    for presented in (keys.generate_key(), "not-a-key", keys.generate_key()):
        _assert_401(guesser.get(ME, HTTP_AUTHORIZATION=f"Bearer {presented}"))
    throttled = guesser.get(ME, HTTP_AUTHORIZATION=f"Bearer {keys.generate_key()}")
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert error["code"] == "throttled" and "failed authentications from this address" in error["message"]
    assert int(throttled["Retry-After"]) == error["details"]["retry_after"] >= 1
    assert guesser.get(ME, HTTP_X_API_KEY="still-guessing").status_code == 429
    _assert_401(APIClient(REMOTE_ADDR="192.0.2.11").get(ME, HTTP_AUTHORIZATION=f"Bearer {keys.generate_key()}"))
    # Only failures are refused: a valid key still works from that address.
    assert guesser.get(ME, HTTP_AUTHORIZATION=f"Bearer {api_key.secret}").status_code == 200
