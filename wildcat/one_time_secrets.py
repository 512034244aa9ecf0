"""A secret shown once in the admin (a new API key, a webhook secret), carried to its page encrypted.

The session row is only a carrier between the create request and the page that shows the secret;
it holds a Fernet token under ``WILDCAT_ENCRYPTION_KEY``, never the secret itself, and the first
page that shows it removes it.
"""

from __future__ import annotations

from django.http import HttpRequest

from wildcat.secrets_at_rest import decrypt, encrypt


def one_time_secret_stash(request: HttpRequest, *, slot: str, object_id: int, secret: str) -> None:
    request.session[slot] = {"id": object_id, "token": encrypt(secret)}


def one_time_secret_take(request: HttpRequest, *, slot: str, object_id: int | str) -> str | None:
    """The secret stashed for this object, once: it is gone from the session afterwards."""
    stashed = request.session.get(slot)
    if not stashed or str(stashed.get("id")) != str(object_id):
        return None
    del request.session[slot]
    return decrypt(stashed["token"]) if stashed.get("token") else None
