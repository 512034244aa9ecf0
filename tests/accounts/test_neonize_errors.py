"""whatsmeow's real error strings, as neonize raises them, classified by identity and never by stray digits.

Every text below is built by ``go_errorf`` from whatsmeow's own formats (tests/accounts/whatsmeow_errors.py,
each checked against the installed Go library by test_neonize_binary_strings.py); line numbers are
whatsmeow 33cfac51's. goneonize copies ``err.Error()`` into the ``Error`` field of its return
protobuf, and neonize's Python client raises it as ``SendMessageError(model.Error)``, ``UploadError``,
``MarkReadError`` or ``PairPhoneError`` (neonize/client.py).
"""

from __future__ import annotations

import pytest
from neonize.exc import MarkReadError, PairPhoneError, SendMessageError, UploadError

from accounts.runtime.drivers.neonize_errors import driver_error, error_identity, error_status, send_error
from tests.accounts import whatsmeow_errors as wm
from tests.accounts.whatsmeow_errors import GoError, go_errorf

# Phone numbers whose digits contain the status numbers the old classifier searched for.
BR_401 = "5511940123456@s.whatsapp.net"  # contains 401
DE_500 = "4915112345678@s.whatsapp.net"  # no status digits: the control case
US_404 = "14045550100@s.whatsapp.net"  # contains 404
IN_400 = "919400012345@s.whatsapp.net"  # contains 400
UK_500 = "447500012345@s.whatsapp.net"  # contains 500


def lid_lookup(jid: str, cause: str) -> GoError:
    """send.go:341 wrapping GetUserInfo's usync error, which user.go:950 wraps again."""
    return go_errorf(wm.USER_INFO_FOR_LID, jid, go_errorf(wm.USYNC, cause))


def iq_status(code: int, text: str) -> GoError:
    return go_errorf(wm.IQ_STATUS, code, text)


def ack_error(code: int) -> GoError:
    return go_errorf(wm.WRAP_NUMBER, go_errorf(wm.SERVER_RETURNED_ERROR), code)


# (whatsmeow source line, SendMessage's error text, expected code, permanent)
SEND_TABLE = [
    # send.go:344 fmt.Errorf("no LID found for %s from server", to): the number has no WhatsApp account.
    ("send.go:344", go_errorf(wm.NO_LID, BR_401), "not_on_whatsapp", True),
    ("send.go:344", go_errorf(wm.NO_LID, US_404), "not_on_whatsapp", True),
    ("send.go:344", go_errorf(wm.NO_LID, IN_400), "not_on_whatsapp", True),
    ("send.go:344", go_errorf(wm.NO_LID, UK_500), "not_on_whatsapp", True),
    ("send.go:344", go_errorf(wm.NO_LID, DE_500), "not_on_whatsapp", True),
    # send.go:432 ErrMessageTimedOut (errors.go:24), after the node went out: never resent.
    ("send.go:432", go_errorf(wm.MESSAGE_TIMED_OUT), "send_outcome_unknown", True),
    # send.go:442 retryFrame, after the server answered the sent node with a disconnect:
    # request.go:201 DisconnectedError (errors.go:259): the socket did not come back within 5 s.
    ("request.go:201", go_errorf(wm.DISCONNECTED_BEFORE, "message send"), "send_outcome_unknown", True),
    # request.go:232 the resent node was answered with a disconnect too.
    (
        "request.go:232",
        go_errorf(wm.DISCONNECTED_BEFORE, go_errorf(wm.RETRY_ACTION, "message send")),
        "send_outcome_unknown",
        True,
    ),
    # request.go:208 bare ErrNotConnected (errors.go:22): the socket was gone again when resending.
    ("request.go:208", go_errorf(wm.NOT_CONNECTED), "send_outcome_unknown", True),
    # request.go:212-215 the resend's bare SendFrame error: ErrSocketClosed (socket/constants.go:41) ...
    ("request.go:215", go_errorf(wm.SOCKET_CLOSED), "send_outcome_unknown", True),
    # ... or coder/websocket's write error (socket/framesocket.go:154).
    ("request.go:215", go_errorf(wm.WEBSOCKET_WRITE, go_errorf(wm.NET_CLOSED)), "send_outcome_unknown", True),
    # send.go:741/823/843/897: the same socket errors before the node went out are wrapped: retried.
    ("send.go:897", go_errorf(wm.SEND_NODE, go_errorf(wm.NOT_CONNECTED)), "not_connected", False),
    ("send.go:823", go_errorf(wm.SEND_NODE, go_errorf(wm.SOCKET_CLOSED)), "send_failed", False),
    (
        "send.go:897",
        go_errorf(wm.SEND_NODE, go_errorf(wm.WEBSOCKET_WRITE, go_errorf(wm.NET_CLOSED))),
        "send_failed",
        False,
    ),
    # send.go:302 wrapping sendIQ's bare ErrNotConnected (request.go:133-140, client.go:924).
    ("send.go:302", go_errorf(wm.GROUP_MEMBERS, go_errorf(wm.NOT_CONNECTED)), "not_connected", False),
    # send.go:341 + user.go:950: the LID lookup failed before anything was sent; the status decides, not the digits.
    ("send.go:341", lid_lookup(BR_401, go_errorf(wm.NOT_CONNECTED)), "not_connected", False),
    ("send.go:341", lid_lookup(BR_401, go_errorf(wm.IQ_TIMED_OUT)), "timeout", False),
    ("send.go:341", lid_lookup(US_404, iq_status(429, "rate-overlimit")), "rate_limited", False),
    ("send.go:341", lid_lookup(DE_500, iq_status(401, "not-authorized")), "logged_out", True),
    ("send.go:341", lid_lookup(BR_401, iq_status(500, "internal-server-error")), "server_error", False),
    # send.go:1177 + user.go:950: a usync query (not the message) was cut off by a disconnect.
    (
        "send.go:1177",
        go_errorf(wm.DEVICE_LIST, go_errorf(wm.USYNC, go_errorf(wm.DISCONNECTED_BEFORE, "info query"))),
        "not_connected",
        False,
    ),
    # send.go:452 fmt.Errorf("%w %d", ErrServerReturnedError, code): the server's ack rejected the message.
    # whatsmeow gives the codes no meaning; 463 is WhatsApp's reach-out time lock, which lasts days.
    ("send.go:452", ack_error(463), "forbidden", True),
    ("send.go:452", ack_error(479), "send_failed", False),
    ("send.go:452", ack_error(401), "send_failed", False),
    ("send.go:452", ack_error(500), "server_error", False),
    # send.go:302 wrapping group.go:664/666 wrapIQError(ErrGroupNotFound / ErrNotInGroup): the human text only.
    ("group.go:664", go_errorf(wm.GROUP_MEMBERS, go_errorf(wm.GROUP_NOT_FOUND)), "group_not_found", True),
    ("group.go:666", go_errorf(wm.GROUP_MEMBERS, go_errorf(wm.NOT_IN_GROUP)), "forbidden", True),
    # send.go:318 wrapping broadcast.go:24 ErrBroadcastListUnsupported.
    (
        "send.go:318",
        go_errorf(wm.BROADCAST_MEMBERS, go_errorf(wm.BROADCAST_UNSUPPORTED)),
        "invalid_recipient",
        True,
    ),
    # send.go:198 ErrRecipientADJID, send.go:414 ErrUnknownServer with a server whatsmeow cannot send to
    # (types/jid.go:25 LegacyUserServer), send.go:203 ErrNotLoggedIn.
    ("send.go:198", go_errorf(wm.RECIPIENT_AD_JID), "invalid_recipient", True),
    ("send.go:414", go_errorf(wm.WRAP_SUFFIX, go_errorf(wm.UNKNOWN_SERVER), "c.us"), "invalid_recipient", True),
    ("send.go:203", go_errorf(wm.NOT_LOGGED_IN), "logged_out", True),
]


@pytest.mark.parametrize(
    ("source_line", "text", "code", "permanent"), SEND_TABLE, ids=[f"{r[0]}:{r[2]}" for r in SEND_TABLE]
)
def test_send_errors_are_classified_by_whatsmeow_identity(source_line, text, code, permanent):
    assert isinstance(text, GoError), "build error texts with go_errorf, from whatsmeow's formats"
    error = send_error(SendMessageError(text))
    assert (error.code, error.permanent) == (code, permanent), source_line
    assert error.message == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # receipt.go:235 and presence.go:137 sendNode: nothing was sent, so the bare forms stay transient.
        (go_errorf(wm.NOT_CONNECTED), "not_connected"),
        (go_errorf(wm.SOCKET_CLOSED), "send_failed"),
    ],
)
def test_bare_socket_errors_of_other_calls_stay_transient(text, code):
    error = driver_error(MarkReadError(text))
    assert (error.code, error.permanent) == (code, False)


def test_jid_digits_never_count_as_a_status():
    # The old classifier called this ``logged_out`` (401 in the number) and the German one ``send_failed``.
    assert error_status(go_errorf(wm.NO_LID, BR_401)) is None
    assert error_identity(go_errorf(wm.NO_LID, BR_401)) == error_identity(go_errorf(wm.NO_LID, DE_500))
    # errors.go:224 "info query returned status %d: %s" is a form a status is read from, with its form.
    assert error_status(lid_lookup(UK_500, iq_status(404, "item-not-found"))) == ("iq", 404)
    assert error_status(ack_error(463)) == ("ack", 463)
    assert error_status(go_errorf(wm.UPLOAD_STATUS, 404)) == ("media", 404)


@pytest.mark.parametrize(
    ("exc", "code", "permanent"),
    [
        # upload.go:248 fmt.Errorf("upload failed with status code %d", ...), raised by neonize as UploadError.
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 500)), "server_error", False),
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 413)), "upload_failed", False),
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 429)), "rate_limited", False),
        # An expired media auth (refreshed at its expiry, mediaconn.go:44-57): retried, not a logout.
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 401)), "upload_failed", False),
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 403)), "upload_failed", False),
        # A media host's 404 says nothing about the recipient.
        (UploadError(go_errorf(wm.UPLOAD_STATUS, 404)), "upload_failed", False),
        # upload.go:246 a transport failure without a status.
        (
            UploadError(go_errorf(wm.EXECUTE_REQUEST, 'Post "https://mmg.whatsapp.net/mms/image/x": EOF')),
            "upload_failed",
            False,
        ),
        # pair-code.go:94 ErrClientIsNil (errors.go:19), as neonize raises it before the socket is up.
        (PairPhoneError(go_errorf(wm.CLIENT_IS_NIL)), "not_connected", False),
    ],
)
def test_media_and_pairing_errors(exc, code, permanent):
    error = driver_error(exc)
    assert (error.code, error.permanent) == (code, permanent)
