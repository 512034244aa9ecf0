"""Replaces privacy ``@lid`` JIDs by the phone-number JIDs whatsmeow knows, for messages and number checks.

WhatsApp may name a contact by a LID (``…@lid``) with no ``SenderAlt``/``RecipientAlt``; the same
person writing from a phone-number JID would then become a second chat. whatsmeow keeps the LID to
phone-number map it learns in its store (store/sqlstore/lidmap.go ``GetPNForLID``), which neonize
exposes as ``get_pn_from_lid``. These are neonize calls, so they run on the command thread.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from accounts.runtime.drivers.neonize_errors import driver_error
from accounts.runtime.drivers.neonize_messages import jid_parse, jid_user_string
from wildcat.whatsapp import InboundMessage

logger = logging.getLogger(__name__)
CACHE_SIZE = 5000


def lid_unresolved(inbound: InboundMessage) -> bool:
    """Whether the chat (one-to-one) or the sender is still a LID."""
    return inbound.sender_jid.endswith("@lid") or (not inbound.is_group and inbound.chat_jid.endswith("@lid"))


class LidPhoneBook:
    """Looks LIDs up in whatsmeow's store and remembers the answers that name a phone number."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def resolved(self, client: Any, inbound: InboundMessage) -> InboundMessage:
        chat = inbound.chat_jid if inbound.is_group else self.phone_jid(client, inbound.chat_jid)
        sender = self.phone_jid(client, inbound.sender_jid)
        if (chat, sender) == (inbound.chat_jid, inbound.sender_jid):
            return inbound
        return dataclasses.replace(inbound, chat_jid=chat, sender_jid=sender)

    def phone_jid(self, client: Any, jid: str) -> str:
        """The phone-number JID for a LID, or the LID itself when the store does not know it (yet)."""
        if not jid.endswith("@lid") or client is None:
            return jid
        if jid in self._known:
            return self._known[jid]
        try:
            found = client.get_pn_from_lid(jid_parse(jid))
        except Exception as exc:  # noqa: BLE001 - the message is kept under its LID
            logger.warning("no phone number for %s: %s", jid, exc)
            return jid
        if not found.User:  # lidmap.go: an unknown LID is an empty JID and no error
            return jid
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()
        self._known[jid] = jid_user_string(found)
        return self._known[jid]

    def numbers_check(self, client: Any, numbers: list[str]) -> list[dict[str, Any]]:
        """Which numbers have WhatsApp, each with the phone-number JID chats are stored under.

        whatsmeow asks with ``addressing_mode: lid`` and answers with the LID (user.go:181-205), keeping
        the phone number in a field neonize 0.5.2 does not pass on; it also stores the pair in its LID
        map (user.go:206-212, 222-223), where the phone number is read back. The queried number is the
        fallback.
        """
        digits = ["".join(ch for ch in str(number) if ch.isdigit()) for number in numbers]
        queries = [f"+{d}" for d in digits if d]
        try:
            responses = client.is_on_whatsapp(*queries) if queries else []
        except Exception as exc:
            raise driver_error(exc) from exc
        found = {"".join(ch for ch in r.Query if ch.isdigit()): r for r in responses}
        results = []
        for number, number_digits in zip(numbers, digits, strict=True):
            response = found.get(number_digits)
            exists = bool(response is not None and response.IsIn)
            jid = self.phone_jid(client, jid_user_string(response.JID)) if exists else ""
            if jid.endswith("@lid"):
                jid = f"{number_digits}@s.whatsapp.net"
            results.append({"number": number, "exists": exists, "jid": jid})
        return results
