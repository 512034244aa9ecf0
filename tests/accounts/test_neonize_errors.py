"""whatsmeow's real error strings, as neonize raises them, classified by identity and never by stray digits.

Every string below is what whatsmeow's ``err.Error()`` produces (whatsmeow commit 33cfac51; neonize
0.5.2's go.mod pins e277b766, whose errors.go, send.go, request.go and pair-code.go are identical;
its upload.go has four lines fewer before the ones cited and its group.go lines are 8 later, with
the same texts). goneonize
copies it into the ``Error`` field of its return protobuf (goneonize main.go SendMessage, Upload,
DownloadAny, PairPhone), and neonize's Python client raises it as ``SendMessageError(model.Error)``,
``UploadError``, ``DownloadError`` or ``PairPhoneError`` (neonize/client.py).
"""

from __future__ import annotations

import pytest
from neonize.exc import PairPhoneError, SendMessageError, UploadError

from accounts.runtime.drivers.neonize_errors import driver_error, error_identity, error_status

# Phone numbers whose digits contain the status numbers the old classifier searched for.
BR_401 = "5511940123456@s.whatsapp.net"  # contains 401
DE_500 = "4915112345678@s.whatsapp.net"  # no status digits: the control case
US_404 = "14045550100@s.whatsapp.net"  # contains 404
IN_400 = "919400012345@s.whatsapp.net"  # contains 400
UK_500 = "447500012345@s.whatsapp.net"  # contains 500

# (whatsmeow source line, error as whatsmeow prints it, expected code, permanent)
TABLE = [
    # send.go:344 fmt.Errorf("no LID found for %s from server", to): the number has no WhatsApp account.
    ("send.go:344", f"no LID found for {BR_401} from server", "not_on_whatsapp", True),
    ("send.go:344", f"no LID found for {US_404} from server", "not_on_whatsapp", True),
    ("send.go:344", f"no LID found for {IN_400} from server", "not_on_whatsapp", True),
    ("send.go:344", f"no LID found for {UK_500} from server", "not_on_whatsapp", True),
    ("send.go:344", f"no LID found for {DE_500} from server", "not_on_whatsapp", True),
    # user.go:1009, the same identity from GetUserInfo/GetUserDevices callers.
    ("user.go:1009", f"no LID found for {BR_401} from server", "not_on_whatsapp", True),
    # send.go:432 ErrMessageTimedOut (errors.go:24), after the node went out: never resent.
    ("send.go:432", "timed out waiting for message send response", "send_outcome_unknown", True),
    # send.go:442 retryFrame (request.go:201, 232) -> DisconnectedError (errors.go:259) after the node went out.
    ("request.go:201", "websocket disconnected before message send returned response", "send_outcome_unknown", True),
    (
        "request.go:232",
        "websocket disconnected before message send (retry) returned response",
        "send_outcome_unknown",
        True,
    ),
    # send.go:341 wrapping errors.go:224 IQError: the number's digits must not decide, the status does.
    (
        "send.go:341",
        f"failed to get user info for {BR_401} to fill LID cache: info query timed out",
        "timeout",
        False,
    ),
    (
        "send.go:341",
        f"failed to get user info for {US_404} to fill LID cache: info query returned status 429: rate-overlimit",
        "rate_limited",
        False,
    ),
    (
        "send.go:341",
        f"failed to get user info for {DE_500} to fill LID cache: info query returned status 401: not-authorized",
        "logged_out",
        True,
    ),
    (
        "send.go:341",
        f"failed to get user info for {BR_401} to fill LID cache: "
        "info query returned status 500: internal-server-error",
        "server_error",
        False,
    ),
    # send.go:452 fmt.Errorf("%w %d", ErrServerReturnedError, errorCode): the ack carried an error code.
    ("send.go:452", "server returned error 401", "logged_out", True),
    ("send.go:452", "server returned error 479", "send_failed", False),
    # send.go:1177 + send.go:1420 ErrNoSession (errors.go:20), with a Signal address full of digits.
    (
        "send.go:1420",
        "failed to get device list: "
        "can't encrypt message for device: no signal session established with 5511940123456:0",
        "send_failed",
        False,
    ),
    # send.go:302 wrapping group.go:664 wrapIQError(ErrGroupNotFound / ErrNotInGroup): the human text only.
    ("group.go:664", "failed to get group members: that group does not exist", "group_not_found", True),
    ("group.go:666", "failed to get group members: you're not participating in that group", "forbidden", True),
    # send.go:198 ErrRecipientADJID, send.go:414 ErrUnknownServer, send.go:203 ErrNotLoggedIn, ErrNotConnected.
    ("send.go:198", "message recipient must be a user JID with no device part", "invalid_recipient", True),
    ("send.go:414", "can't send message to unknown server bot.whatsapp.net", "invalid_recipient", True),
    ("send.go:203", "the store doesn't contain a device JID", "logged_out", True),
    ("errors.go:22", "websocket not connected", "not_connected", False),
    ("errors.go:21", "info query timed out", "timeout", False),
]


@pytest.mark.parametrize(("source_line", "text", "code", "permanent"), TABLE, ids=[f"{r[0]}:{r[2]}" for r in TABLE])
def test_send_errors_are_classified_by_whatsmeow_identity(source_line, text, code, permanent):
    error = driver_error(SendMessageError(text))
    assert (error.code, error.permanent) == (code, permanent), source_line
    assert error.message == text


def test_jid_digits_never_count_as_a_status():
    # The old classifier called this ``logged_out`` (401 in the number) and the German one ``send_failed``.
    assert error_status(f"no LID found for {BR_401} from server") is None
    assert error_identity(f"no LID found for {BR_401} from server") == error_identity(
        f"no LID found for {DE_500} from server"
    )
    # errors.go:224 "info query returned status %d: %s" is the form a status is read from.
    assert (
        error_status(
            f"failed to get user info for {UK_500} to fill LID cache: info query returned status 404: item-not-found"
        )
        == 404
    )


@pytest.mark.parametrize(
    ("exc", "code", "permanent"),
    [
        # upload.go:248 fmt.Errorf("upload failed with status code %d", ...), raised by neonize as UploadError.
        (UploadError("upload failed with status code 500"), "server_error", False),
        (UploadError("upload failed with status code 413"), "send_failed", False),
        # upload.go:246 a transport failure without a status.
        (
            UploadError('failed to execute request: Post "https://mmg.whatsapp.net/mms/image/x": EOF'),
            "upload_failed",
            False,
        ),
        # pair-code.go via errors.go:19 ErrClientIsNil, as neonize raises it before the socket is up.
        (PairPhoneError("client is nil"), "not_connected", False),
    ],
)
def test_media_and_pairing_errors(exc, code, permanent):
    error = driver_error(exc)
    assert (error.code, error.permanent) == (code, permanent)
