"""The installed neonize Go library is the one the docs name, and it can produce every error text the tests use.

whatsmeow's source for the embedded version is not public, so the fakes are checked against the
shipped binary itself: its Go build info names the whatsmeow module version, and its read-only data
holds every format string ``fmt.Errorf``/``errors.New`` can print.
"""

from __future__ import annotations

from pathlib import Path

import neonize
import pytest

from accounts.runtime.drivers import neonize_errors
from tests.accounts.whatsmeow_errors import FORMATS, WHATSMEOW_COMMIT, WHATSMEOW_VERSION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def go_library() -> bytes:
    found = sorted(Path(neonize.__file__).parent.glob("neonize-*.so"))
    assert len(found) == 1, f"expected one neonize Go library, found {found}"
    return found[0].read_bytes()


def test_the_embedded_whatsmeow_is_the_version_the_docs_name(go_library):
    assert f"dep\tgo.mau.fi/whatsmeow\t{WHATSMEOW_VERSION}\t".encode() in go_library
    for document in (ROOT / "README.md", Path(neonize_errors.__file__)):
        assert WHATSMEOW_COMMIT in document.read_text(), document


@pytest.mark.parametrize("fragment", sorted(FORMATS))
def test_every_whatsmeow_format_the_tests_use_is_in_the_library(go_library, fragment):
    assert fragment.encode() in go_library


# Identities whatsmeow prints by filling a format: the format and the argument, each in the library.
COMPOSED = {
    # errors.go:259 DisconnectedError with the action send.go:442 passes to retryFrame.
    "websocket disconnected before message send": (
        "websocket disconnected before %s returned response",
        "message send",
    ),
}


def test_every_identity_the_classifier_matches_is_in_the_library(go_library):
    # The identities are lower-cased, with JIDs as "<jid>": compare each piece between the JIDs.
    text = go_library.lower()
    missing = [
        fragment
        for fragment, _code, _permanent in neonize_errors.IDENTITIES
        if not all(piece.strip().lower().encode() in text for piece in _pieces(fragment))
    ]
    assert missing == []
    assert all(prefix.encode() in go_library for prefix in neonize_errors.BARE_AFTER_SEND)


def _pieces(identity: str) -> tuple[str, ...]:
    return COMPOSED.get(identity) or tuple(identity.split("<jid>"))
