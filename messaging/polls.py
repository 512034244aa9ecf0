"""Poll votes: each vote replaces its voter's selection on the poll message, which keeps the tally.

WhatsApp sends a voter's whole current selection with every vote (an empty one withdraws it), each
option as the SHA-256 of its name. The poll message keeps, in ``content``:
``votes`` ``{voter_jid: {"options": [...], "at": iso}}`` and ``tally`` ``{option: count}``. A vote
that names an option the poll does not have (or a poll Wildcat never stored) is ignored.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction

from messaging.message_events import message_event_emit
from messaging.models import Message
from wildcat.event_types import EventType
from wildcat.whatsapp import InboundMessage


def _option_names(poll: Message, hashes: list[str]) -> list[str]:
    by_hash = {hashlib.sha256(str(name).encode()).hexdigest(): str(name) for name in poll.content.get("options", [])}
    return [by_hash[digest] for digest in hashes if digest in by_hash]


def tally_count(votes: dict[str, Any], options: list[str]) -> dict[str, int]:
    tally = {str(option): 0 for option in options}
    for vote in votes.values():
        for option in vote["options"]:
            tally[option] = tally.get(option, 0) + 1
    return tally


def poll_vote_apply(*, connection_id: int, vote: InboundMessage) -> Message | None:
    """Record one vote on its poll and emit ``message.updated`` (change ``poll_vote``); None if no such poll."""
    with transaction.atomic():
        poll = (
            Message.objects.select_for_update(of=("self",))
            .select_related("media")
            .filter(connection_id=connection_id, wa_message_id=vote.votes_on_wa_message_id, type=Message.Type.POLL)
            .first()
        )
        if poll is None:
            return None
        selected = _option_names(poll, list(vote.content.get("selected_option_hashes", [])))
        votes = dict(poll.content.get("votes") or {})
        earlier = votes.get(vote.sender_jid)
        at = vote.timestamp.isoformat()
        if earlier is not None and (earlier["at"] > at or (earlier["at"] == at and earlier["options"] == selected)):
            return poll  # an older vote arriving late, or the same vote twice
        votes[vote.sender_jid] = {"options": selected, "at": at}  # an empty selection withdraws the vote
        poll.content = {**poll.content, "votes": votes, "tally": tally_count(votes, poll.content.get("options", []))}
        poll.save(update_fields=["content", "updated_at"])
        selection = {"voter": vote.sender_jid, "selected_options": selected}
        message_event_emit(poll, EventType.MESSAGE_UPDATED, change="poll_vote", by=vote.sender_jid, **selection)
    return poll
