"""Who an outbox event is for, stated by whoever writes it (docs/outbox.md).

Stored beside the event (``outbox.audience`` and ``outbox.channel_id``), so that
the relay, the gateways' catch-up, resume and every outbox consumer read it
instead of guessing it from the shape of an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AudienceKind = Literal["conversation", "person", "workspace"]


@dataclass(frozen=True, slots=True)
class Audience:
    """A conversation's members, one person's own connections, or everyone in the workspace."""

    kind: AudienceKind
    id: str | None = None  # the conversation's or the person's id; None for the workspace

    @staticmethod
    def conversation(channel_id: str) -> Audience:
        return Audience("conversation", channel_id)

    @staticmethod
    def person(user_id: str) -> Audience:
        return Audience("person", user_id)

    @staticmethod
    def workspace() -> Audience:
        return Audience("workspace")

    @staticmethod
    def of_row(kind: str, audience_id: str | None) -> Audience:
        """The audience stored in an outbox row (``audience``, ``channel_id``)."""
        if kind == "conversation" and audience_id is not None:
            return Audience("conversation", audience_id)
        if kind == "person" and audience_id is not None:
            return Audience("person", audience_id)
        if kind == "workspace":
            return Audience("workspace")
        raise ValueError(f"not an outbox audience: {kind!r} {audience_id!r}")


WORKSPACE = Audience.workspace()
