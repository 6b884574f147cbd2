"""OAuth scopes: which scopes each Slack method needs, and whether a token holds them. Pure.

ONE table, ``METHOD_SCOPES``, read by the method dispatcher (``cell.api.slack``) for every
call: method modules never check scopes themselves. The scopes are Slack's, per method and
per token type, as its method reference lists them ("Required scopes": bot tokens, user
tokens; app-level tokens for ``apps.connections.open``). What a token holds is stored with it
(``tokens.scopes``).

Two scopes stand for "everything open to this token type", as in Slack:

- ``client``: a person's session token (signing in, the web client). A first-party client does
  everything its person may do, so it is never refused for a scope.
- ``bot``: Slack's classic bot scope, held by the plain bots of ``/v1/workspaces/{w}/bots``
  (created before apps existed). An app's bot token holds the granular scopes it was
  installed with instead.

Methods whose scope depends on the kind of conversation (``conversations.history`` needs
``channels:history`` in a public channel, ``groups:history`` in a private one, ``im:history``,
``mpim:history``) name a ``Family`` and how the call names its conversations (``Kinds``).
A method missing from the table is open to session and classic tokens only (an app's token is
refused, ``not_allowed_token_type``): a new method is closed to apps until it has its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

CLIENT, CLASSIC_BOT = "client", "bot"
CONNECTIONS_WRITE = "connections:write"  # the app-level token's one scope (Socket Mode)

ConversationKind = Literal["public", "private", "im", "mpim"]
KIND_ORDER: tuple[ConversationKind, ...] = ("public", "private", "im", "mpim")

# How a call names the kind(s) of conversation it touches:
#   "channel": the ``channel`` argument (a C… id is public or private: the dispatcher looks it up)
#   "types":   the ``types`` argument of listings (default: public channels only, as Slack's)
#   "create":  ``is_private`` of conversations.create
#   "open":    conversations.open (one other person: im; more: mpim; a ``channel`` id: its kind)
Kinds = Literal["channel", "types", "create", "open"]


@dataclass(frozen=True, slots=True)
class Family:
    """The scope for each kind of conversation (Slack's ``channels:*``, ``groups:*``, ``im:*``, ``mpim:*``)."""

    public: str
    private: str
    im: str
    mpim: str

    def scope(self, kind: ConversationKind) -> str:
        scope: str = getattr(self, kind)
        return scope

    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.scope(kind) for kind in KIND_ORDER))


Required = tuple[str, ...] | Family  # any one of the tuple (() = none needed), or by kind


@dataclass(frozen=True, slots=True)
class Need:
    """What one method needs: per token type, ``None`` when that token type may not call it."""

    bot: Required | None
    user: Required | None
    app: Required | None = None  # app-level (xapp) tokens: only the methods that name it
    kinds: Kinds = "channel"


NONE: tuple[str, ...] = ()

READ = Family("channels:read", "groups:read", "im:read", "mpim:read")
HISTORY = Family("channels:history", "groups:history", "im:history", "mpim:history")
BOT_WRITE = Family("channels:manage", "groups:write", "im:write", "mpim:write")
USER_WRITE = Family("channels:write", "groups:write", "im:write", "mpim:write")


def _both(*scopes: str) -> Need:
    return Need(bot=scopes, user=scopes)


def _manage(kinds: Kinds = "channel") -> Need:
    return Need(bot=BOT_WRITE, user=USER_WRITE, kinds=kinds)


METHOD_SCOPES: dict[str, Need] = {
    # no scope: who is calling, and Slack's echo
    "api.test": _both(),
    "auth.test": _both(),
    "auth.revoke": _both(),
    # apps
    "apps.connections.open": Need(bot=None, user=None, app=(CONNECTIONS_WRITE,)),
    "bots.info": _both("users:read"),
    "team.info": _both("team:read"),
    # messages
    "chat.postMessage": _both("chat:write"),
    "chat.postEphemeral": _both("chat:write"),
    "chat.meMessage": _both("chat:write"),
    "chat.update": _both("chat:write"),
    "chat.delete": _both("chat:write"),
    "chat.getPermalink": _both(),
    # conversations
    "conversations.history": Need(bot=HISTORY, user=HISTORY),
    "conversations.replies": Need(bot=HISTORY, user=HISTORY),
    "conversations.info": Need(bot=READ, user=READ),
    "conversations.members": Need(bot=READ, user=READ),
    "conversations.list": Need(bot=READ, user=READ, kinds="types"),
    "users.conversations": Need(bot=READ, user=READ, kinds="types"),
    "conversations.join": Need(bot=("channels:join",), user=("channels:write",)),
    "conversations.create": _manage("create"),
    "conversations.open": _manage("open"),
    "conversations.archive": _manage(),
    "conversations.unarchive": _manage(),
    "conversations.close": _manage(),
    "conversations.invite": _manage(),
    "conversations.kick": _manage(),
    "conversations.leave": _manage(),
    "conversations.mark": _manage(),
    "conversations.rename": _manage(),
    "conversations.setPurpose": _manage(),
    "conversations.setTopic": _manage(),
    # reactions and pins
    "reactions.add": _both("reactions:write"),
    "reactions.remove": _both("reactions:write"),
    "reactions.get": _both("reactions:read"),
    "pins.add": _both("pins:write"),
    "pins.remove": _both("pins:write"),
    "pins.list": _both("pins:read"),
    # files
    "files.upload": _both("files:write"),
    "files.getUploadURLExternal": _both("files:write"),
    "files.completeUploadExternal": _both("files:write"),
    "files.delete": _both("files:write"),
    "files.info": _both("files:read"),
    "files.list": _both("files:read"),
    # search: user tokens only (Slack refuses bot tokens)
    "search.all": Need(bot=None, user=("search:read",)),
    "search.messages": Need(bot=None, user=("search:read",)),
    "search.files": Need(bot=None, user=("search:read",)),
    # people
    "users.list": _both("users:read"),
    "users.info": _both("users:read"),
    "users.lookupByEmail": _both("users:read.email"),
    "users.getPresence": _both("users:read"),
    "users.setPresence": _both("users:write"),
    # do not disturb: anyone may read it; only a person sets their own (Slack: user tokens)
    "dnd.info": _both("dnd:read"),
    "dnd.teamInfo": _both("dnd:read"),
    "dnd.setSnooze": Need(bot=None, user=("dnd:write",)),
    "dnd.endSnooze": Need(bot=None, user=("dnd:write",)),
    "dnd.endDnd": Need(bot=None, user=("dnd:write",)),
    # real time: first-party clients (client) and classic bots (bot); an app needs rtm:stream
    "rtm.connect": _both("rtm:stream"),
}

# Cellchat's own methods for its first-party clients (not Slack's): no row above, so session (and
# classic bot) tokens only; an app's tokens are refused.
FIRST_PARTY: frozenset[str] = frozenset({
    "push.register", "push.unregister", "push.list",
    # Slack's own client's methods (not in its public reference): counts, prefs, thread subscriptions
    "client.counts", "users.counts", "users.prefs.get", "users.prefs.set", "users.prefs.setNotifications",
    "subscriptions.thread.add", "subscriptions.thread.remove", "subscriptions.thread.mark",
    "conversations.setUrgent",
    # the client runs a person's slash commands (docs/integrations.md)
    "chat.command",
})

# Every scope an app may be installed with: what the table names, plus those Slack apps commonly
# request for what the cell delivers to them (events, commands, webhooks) and other granular
# Slack scopes an unmodified app asks for (granted; no method here needs them yet).
_EXTRA = ("app_mentions:read", "commands", "incoming-webhook", "chat:write.public", "chat:write.customize",
          "emoji:read", "reminders:read", "reminders:write", "usergroups:read", "usergroups:write",
          "dnd:read", "dnd:write", "bookmarks:read", "bookmarks:write", "links:read", "links:write",
          "users.profile:read", "users.profile:write", "team.preferences:read", "channels:write.invites",
          "calls:read", "calls:write", "metadata.message:read")


def _named() -> frozenset[str]:
    found: set[str] = set(_EXTRA)
    for need in METHOD_SCOPES.values():
        for required in (need.bot, need.user):
            if isinstance(required, Family):
                found.update(required.all())
            elif required:
                found.update(required)
    return frozenset(found)


GRANTABLE: frozenset[str] = _named()


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes of ``scopes`` an app cannot be installed with (not Slack granular scopes we know)."""
    return sorted(set(scopes) - GRANTABLE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a check. ``allowed``; else ``error`` is ``missing_scope`` (``needed`` names
    the scopes, comma-separated as Slack does) or ``not_allowed_token_type``; ``lookup`` means
    "tell me the conversation's kind and ask again" (the token holds only part of a family)."""

    allowed: bool
    error: str | None = None
    needed: str = ""
    lookup: bool = False


ALLOWED = Verdict(True)
WRONG_TOKEN = Verdict(False, "not_allowed_token_type")


def accepted(need: Need | None, token_kind: str) -> tuple[str, ...]:
    """The scopes any of which the method accepts for this token type (``X-Accepted-OAuth-Scopes``)."""
    if need is None:
        return NONE
    required = {"xoxb": need.bot, "xoxp": need.user, "xapp": need.app}.get(token_kind)
    if isinstance(required, Family):
        return required.all()
    return required or NONE


def check(need: Need | None, token_kind: str, scopes: frozenset[str], *, app_token: bool,
          kinds: Iterable[ConversationKind] | None = None) -> Verdict:
    """May a token of ``token_kind`` holding ``scopes`` call a method that needs ``need``?

    ``app_token``: the token belongs to an app (granular scopes); plain session and classic bot
    tokens are not. ``kinds``: the kinds of conversation the call touches, once known (None on
    the first ask: the answer may then be ``lookup``).
    """
    if token_kind == "xapp":
        if need is None or need.app is None:
            return WRONG_TOKEN
        return _held(need.app, scopes, kinds)
    if need is None:
        return WRONG_TOKEN if app_token else ALLOWED
    required = need.bot if token_kind == "xoxb" else need.user
    if required is None:
        return WRONG_TOKEN
    if (token_kind == "xoxb" and CLASSIC_BOT in scopes) or (token_kind == "xoxp" and CLIENT in scopes):
        return ALLOWED
    return _held(required, scopes, kinds)


def _held(required: Required, scopes: frozenset[str], kinds: Iterable[ConversationKind] | None) -> Verdict:
    if not isinstance(required, Family):
        if not required or scopes.intersection(required):
            return ALLOWED
        return Verdict(False, "missing_scope", ",".join(required))
    family = required.all()
    if kinds is not None:
        missing = [s for s in dict.fromkeys(required.scope(k) for k in kinds) if s not in scopes]
        return Verdict(False, "missing_scope", ",".join(missing)) if missing else ALLOWED
    held = scopes.intersection(family)
    if len(held) == len(family):
        return ALLOWED
    if not held:
        return Verdict(False, "missing_scope", ",".join(family))
    return Verdict(False, lookup=True)


# conversations.list / users.conversations ``types`` -> kinds
TYPES: Mapping[str, ConversationKind] = {
    "public_channel": "public", "private_channel": "private", "im": "im", "mpim": "mpim",
}


def kinds_of_types(types: str | None) -> list[ConversationKind] | None:
    """The kinds a listing's ``types`` asks for (default: public channels); None if one is unknown
    (the method itself then refuses the argument)."""
    names = [t.strip() for t in (types or "public_channel").split(",") if t.strip()] or ["public_channel"]
    if any(name not in TYPES for name in names):
        return None
    return [TYPES[name] for name in names]


def parse_scopes(value: str | Iterable[str]) -> list[str]:
    """Scopes given as ``"a,b"`` (or ``"a b"``) or as a list, deduplicated, in order."""
    items = value.replace(" ", ",").split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(item.strip() for item in items if item and item.strip()))
