"""The shapes of the cell's answers, for its OpenAPI document (``cell.api.openapi``).

Each Slack method's ``ok: true`` answer and each ``/v1`` answer is a ``TypedDict`` here, built from
what the domain's ``to_slack`` functions and the handlers put in it (keys that are only sometimes
there are ``NotRequired``). They are closed (``additionalProperties: false`` in the schema): a key
the code sends but this module does not name is a mismatch that
``tests/cell/test_openapi_answers.py`` catches, by validating real answers against the document.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from cell.errors import SlackErrorCode

_CLOSED = ConfigDict(extra="forbid")


@with_config(_CLOSED)
class ResponseMetadata(TypedDict):
    next_cursor: NotRequired[str]
    messages: NotRequired[list[str]]
    warnings: NotRequired[list[str]]


@with_config(_CLOSED)
class Ok(TypedDict):
    ok: Literal[True]
    response_metadata: NotRequired[ResponseMetadata]


@with_config(_CLOSED)
class PartialError(TypedDict):
    user: str
    ok: Literal[False]
    error: str


@with_config(_CLOSED)
class SlackError(TypedDict):
    """Every refusal: Slack's error code, with the reason in ``response_metadata.messages``."""
    ok: Literal[False]
    error: SlackErrorCode
    response_metadata: NotRequired[ResponseMetadata]
    needed: NotRequired[str]  # missing_scope: the scopes any of which would do (comma-separated)
    provided: NotRequired[str]  # missing_scope: the scopes the token holds
    errors: NotRequired[list[PartialError]]  # conversations.invite: per person


# --- Slack objects -------------------------------------------------------------------------------


@with_config(_CLOSED)
class Reaction(TypedDict):
    name: str
    users: list[str]
    count: int


@with_config(_CLOSED)
class Edited(TypedDict):
    user: str
    ts: str


@with_config(_CLOSED)
class Share(TypedDict):
    ts: str
    thread_ts: NotRequired[str]
    share_user_id: str
    team_id: str
    reply_users: list[str]
    reply_users_count: int
    reply_count: int


@with_config(_CLOSED)
class Shares(TypedDict):
    public: NotRequired[dict[str, list[Share]]]
    private: NotRequired[dict[str, list[Share]]]


@with_config(_CLOSED)
class File(TypedDict):
    """Slack's file object (``cell.domain.files.to_slack``); ``thumb_*`` once previews are made."""
    id: str
    created: int
    timestamp: int
    name: str
    title: str
    mimetype: str
    filetype: str
    pretty_type: str
    user: str
    user_team: str
    editable: bool
    size: int
    mode: Literal["hosted"]
    is_external: bool
    external_type: str
    is_public: bool
    public_url_shared: bool
    display_as_bot: bool
    username: str
    url_private: str
    url_private_download: str
    permalink: str
    file_access: str
    alt_txt: NotRequired[str]
    original_w: NotRequired[int]
    original_h: NotRequired[int]
    thumb_64: NotRequired[str]
    thumb_64_w: NotRequired[int]
    thumb_64_h: NotRequired[int]
    thumb_360: NotRequired[str]
    thumb_360_w: NotRequired[int]
    thumb_360_h: NotRequired[int]
    thumb_720: NotRequired[str]
    thumb_720_w: NotRequired[int]
    thumb_720_h: NotRequired[int]
    channels: list[str]
    groups: list[str]
    ims: list[str]
    shares: Shares
    comments_count: int
    has_rich_preview: bool


@with_config(_CLOSED)
class Tombstone(TypedDict):
    """A deleted file, where a message carried it."""
    id: str
    mode: Literal["tombstone"]


@with_config(_CLOSED)
class BotProfile(TypedDict):
    """``bot_profile`` of an app's messages (``cell.domain.apps.bot_profile``)."""
    id: str
    deleted: bool
    name: str
    updated: int
    app_id: str
    icons: dict[str, str]
    team_id: str


@with_config(_CLOSED)
class Message(TypedDict):
    """Slack's message object (``cell.domain.messages.to_slack``)."""
    type: Literal["message"]
    user: str
    text: str
    ts: str
    team: str
    subtype: NotRequired[str]
    bot_id: NotRequired[str]
    app_id: NotRequired[str]
    bot_profile: NotRequired[BotProfile]
    username: NotRequired[str]  # an incoming webhook's override
    icons: NotRequired[dict[str, str]]  # an incoming webhook's override
    client_msg_id: NotRequired[str]
    blocks: NotRequired[list[Any]]
    attachments: NotRequired[list[Any]]
    thread_ts: NotRequired[str]
    reply_count: NotRequired[int]
    reply_users: NotRequired[list[str]]
    reply_users_count: NotRequired[int]
    latest_reply: NotRequired[str]
    parent_user_id: NotRequired[str]
    files: NotRequired[list[File | Tombstone]]
    upload: NotRequired[bool]
    edited: NotRequired[Edited]
    reactions: NotRequired[list[Reaction]]


@with_config(_CLOSED)
class TopicOrPurpose(TypedDict):
    value: str
    creator: str
    last_set: int


@with_config(_CLOSED)
class Conversation(TypedDict):
    """Slack's conversation object (``cell.domain.channels.to_slack``)."""
    id: str
    created: int
    creator: str
    is_channel: bool
    is_group: bool
    is_im: bool
    is_mpim: bool
    is_private: bool
    is_archived: bool
    context_team_id: str
    name: NotRequired[str]
    name_normalized: NotRequired[str]
    is_general: NotRequired[bool]
    topic: NotRequired[TopicOrPurpose]
    purpose: NotRequired[TopicOrPurpose]
    user: NotRequired[str]  # a 1:1 DM: the other person
    is_member: NotRequired[bool]
    is_open: NotRequired[bool]
    num_members: NotRequired[int]
    last_read: NotRequired[str]
    unread_count: NotRequired[int]
    unread_count_display: NotRequired[int]


@with_config(_CLOSED)
class ConversationId(TypedDict):
    id: str


@with_config(_CLOSED)
class Profile(TypedDict):
    real_name: str
    display_name: str
    email: str
    team: str
    bot_id: NotRequired[str]


@with_config(_CLOSED)
class User(TypedDict):
    """Slack's user object (``cell.api.methods.users.user_to_slack``)."""
    id: str
    team_id: str
    name: str
    real_name: str
    deleted: bool
    tz: str
    is_admin: bool
    is_owner: bool
    is_bot: bool
    is_app_user: bool
    updated: int
    profile: Profile


@with_config(_CLOSED)
class SearchChannel(TypedDict):
    id: str
    name: str
    is_channel: bool
    is_group: bool
    is_im: bool
    is_mpim: bool
    is_private: bool
    is_shared: bool
    is_ext_shared: bool
    is_org_shared: bool
    pending_shared: list[str]
    is_pending_ext_shared: bool


@with_config(_CLOSED)
class SearchMatch(TypedDict):
    """A message found by ``search.messages`` (``text`` carries highlight markers when asked)."""
    iid: str
    type: Literal["message"]
    team: str
    channel: SearchChannel
    user: str
    username: str
    ts: str
    text: str
    permalink: str
    score: float
    thread_ts: NotRequired[str]
    bot_id: NotRequired[str]
    blocks: NotRequired[list[Any]]
    attachments: NotRequired[list[Any]]
    edited: NotRequired[Edited]
    parent_user_id: NotRequired[str]
    files: NotRequired[list[File | Tombstone]]


@with_config(_CLOSED)
class Paging(TypedDict):
    count: int
    total: int
    page: int
    pages: int


@with_config(_CLOSED)
class Pagination(TypedDict):
    total_count: int
    page: int
    per_page: int
    page_count: int
    first: int
    last: int


@with_config(_CLOSED)
class FoundMessages(TypedDict):
    matches: list[SearchMatch]
    total: int
    paging: Paging
    pagination: Pagination


@with_config(_CLOSED)
class FoundFiles(TypedDict):
    matches: list[File]
    total: int
    paging: Paging
    pagination: Pagination


@with_config(_CLOSED)
class Posts(TypedDict):
    """Slack's ``posts`` block of ``search.all`` (there are no posts here: always empty)."""

    matches: list[Any]
    total: int
    paging: Paging
    pagination: Pagination


@with_config(_CLOSED)
class PinnedItem(TypedDict):
    type: Literal["message"]
    channel: str
    message: Message
    created: int
    created_by: str


@with_config(_CLOSED)
class Named(TypedDict):
    id: str
    name: str


@with_config(_CLOSED)
class Team(TypedDict):
    id: str
    name: str
    domain: str


@with_config(_CLOSED)
class PushDevice(TypedDict):
    id: str
    app_id: str
    pushkey: str
    url: str
    device_name: str
    created: int


# --- Slack method answers (``ok: true``) ---------------------------------------------------------


@with_config(_CLOSED)
class ApiTest(Ok):
    args: NotRequired[dict[str, Any]]


@with_config(_CLOSED)
class AuthTest(Ok):
    url: str
    team: str
    user: str
    team_id: str
    user_id: str
    is_enterprise_install: bool
    bot_id: NotRequired[str]
    app_id: NotRequired[str]


@with_config(_CLOSED)
class Revoked(Ok):
    revoked: bool


@with_config(_CLOSED)
class Posted(Ok):
    channel: str
    ts: str
    message: Message


@with_config(_CLOSED)
class Updated(Posted):
    text: str


@with_config(_CLOSED)
class Deleted(Ok):
    channel: str
    ts: str


@with_config(_CLOSED)
class OneConversation(Ok):
    channel: Conversation


@with_config(_CLOSED)
class Joined(OneConversation):
    warning: NotRequired[Literal["already_in_channel"]]


@with_config(_CLOSED)
class Invited(OneConversation):
    errors: NotRequired[list[PartialError]]


@with_config(_CLOSED)
class Opened(Ok):
    channel: Conversation | ConversationId
    no_op: NotRequired[bool]
    already_open: NotRequired[bool]


@with_config(_CLOSED)
class Closed(Ok):
    no_op: NotRequired[bool]
    already_closed: NotRequired[bool]


@with_config(_CLOSED)
class History(Ok):
    messages: list[Message]
    has_more: bool
    pin_count: int


@with_config(_CLOSED)
class Replies(Ok):
    messages: list[Message]
    has_more: bool


@with_config(_CLOSED)
class Conversations(Ok):
    channels: list[Conversation]


@with_config(_CLOSED)
class Members(Ok):
    members: list[str]


@with_config(_CLOSED)
class Pins(Ok):
    items: list[PinnedItem]


@with_config(_CLOSED)
class Reactions(Ok):
    type: Literal["message"]
    channel: str
    message: Message


@with_config(_CLOSED)
class Users(Ok):
    members: list[User]
    cache_ts: int


@with_config(_CLOSED)
class OneUser(Ok):
    user: User


@with_config(_CLOSED)
class Presence(Ok):
    presence: Literal["active", "away"]
    online: bool
    status: str
    auto_away: NotRequired[bool]
    manual_away: NotRequired[bool]
    connection_count: NotRequired[int]


@with_config(_CLOSED)
class CommandSent(Ok):
    trigger_id: str


@with_config(_CLOSED)
class ConnectionsOpen(Ok):
    url: str


@with_config(_CLOSED)
class RtmConnect(Ok):
    url: str
    self: Named
    team: Team


@with_config(_CLOSED)
class UploadUrl(Ok):
    upload_url: str
    file_id: str


@with_config(_CLOSED)
class Files(Ok):
    files: list[File]


@with_config(_CLOSED)
class OneFile(Ok):
    file: File


@with_config(_CLOSED)
class FileInfo(OneFile):
    comments: list[Any]


@with_config(_CLOSED)
class FileList(Files):
    paging: Paging


@with_config(_CLOSED)
class SearchMessages(Ok):
    query: str
    messages: FoundMessages


@with_config(_CLOSED)
class SearchFiles(Ok):
    query: str
    files: FoundFiles


@with_config(_CLOSED)
class SearchAll(SearchMessages):
    files: FoundFiles
    posts: Posts


@with_config(_CLOSED)
class OneDevice(Ok):
    device: PushDevice


@with_config(_CLOSED)
class Devices(Ok):
    devices: list[PushDevice]


# --- notifications: counts, thread subscriptions, prefs, DND (docs/notifications.md) ------------


@with_config(_CLOSED)
class CountedConversation(TypedDict):
    id: str
    last_read: str
    latest: str
    has_unreads: bool
    mention_count: int
    unread_count: int
    unread_count_display: int
    is_muted: bool
    name: NotRequired[str]
    is_archived: NotRequired[bool]
    user_id: NotRequired[str]
    is_open: NotRequired[bool]


@with_config(_CLOSED)
class CountedThread(TypedDict):
    channel: str
    thread_ts: str
    last_read: str
    latest_reply: str
    unread_count: int
    mention_count: int
    is_muted: bool


@with_config(_CLOSED)
class ThreadCounts(TypedDict):
    has_unreads: bool
    mention_count: int
    unread_count: int
    threads: list[CountedThread]


@with_config(_CLOSED)
class ChannelBadges(TypedDict):
    channels: int
    dms: int
    thread_mentions: int
    thread_unreads: int


@with_config(_CLOSED)
class Counts(Ok):
    channels: list[CountedConversation]
    mpims: list[CountedConversation]
    ims: list[CountedConversation]
    threads: ThreadCounts
    channel_badges: ChannelBadges
    badge: int


@with_config(_CLOSED)
class Subscription(TypedDict):
    type: Literal["thread"]
    channel: str
    thread_ts: str
    active: bool
    last_read: str
    unread_count: int


@with_config(_CLOSED)
class OneSubscription(Ok):
    subscription: Subscription


@with_config(_CLOSED)
class NotifyPrefs(TypedDict):
    notify_level: Literal["all", "mentions", "nothing"]
    highlight_words: str
    dnd_enabled: bool
    dnd_start_hour: str
    dnd_end_hour: str
    tz: str
    muted_channels: str
    at_channel_suppressed_channels: str
    all_notifications_prefs: str


@with_config(_CLOSED)
class UserPrefs(Ok):
    prefs: NotifyPrefs


@with_config(_CLOSED)
class ChannelNotifyPrefs(TypedDict):
    level: Literal["default", "all", "mentions", "nothing"]
    muted: bool
    suppress_at_channel: bool


@with_config(_CLOSED)
class ChannelPrefs(Ok):
    channel_id: str
    prefs: ChannelNotifyPrefs


@with_config(_CLOSED)
class Urgent(Ok):
    channel: str
    urgent: bool


@with_config(_CLOSED)
class DndStatus(TypedDict):
    dnd_enabled: bool
    next_dnd_start_ts: int
    next_dnd_end_ts: int


@with_config(_CLOSED)
class DndInfo(Ok):
    dnd_enabled: bool
    next_dnd_start_ts: int
    next_dnd_end_ts: int
    snooze_enabled: NotRequired[bool]
    snooze_endtime: NotRequired[int]
    snooze_remaining: NotRequired[int]
    snooze_is_indefinite: NotRequired[bool]


@with_config(_CLOSED)
class DndTeamInfo(Ok):
    users: dict[str, DndStatus]


@with_config(_CLOSED)
class Snoozed(Ok):
    snooze_enabled: bool
    snooze_endtime: int
    snooze_remaining: int
    snooze_is_indefinite: bool


@with_config(_CLOSED)
class SnoozeEnded(Ok):
    dnd_enabled: bool
    next_dnd_start_ts: int
    next_dnd_end_ts: int
    snooze_enabled: bool


@with_config(_CLOSED)
class Bot(TypedDict):
    id: str
    deleted: bool
    name: str
    updated: int
    app_id: NotRequired[str]  # a plain bot (no app) has none
    user_id: str
    icons: dict[str, str]


@with_config(_CLOSED)
class BotInfo(Ok):
    bot: Bot


@with_config(_CLOSED)
class TeamIcon(TypedDict):
    image_default: bool


@with_config(_CLOSED)
class TeamDetails(TypedDict):
    id: str
    name: str
    domain: str
    url: str
    email_domain: str
    icon: TeamIcon


@with_config(_CLOSED)
class TeamInfo(Ok):
    team: TeamDetails


@with_config(_CLOSED)
class Ephemeral(Ok):
    message_ts: str


@with_config(_CLOSED)
class MeMessage(Ok):
    channel: str
    ts: str


@with_config(_CLOSED)
class Permalink(Ok):
    channel: str
    permalink: str


SLACK: dict[str, type] = {
    "bots.info": BotInfo, "team.info": TeamInfo, "users.conversations": Conversations,
    "chat.postEphemeral": Ephemeral, "chat.meMessage": MeMessage, "chat.getPermalink": Permalink,
    "api.test": ApiTest, "auth.test": AuthTest, "auth.revoke": Revoked,
    "chat.postMessage": Posted, "chat.update": Updated, "chat.delete": Deleted,
    "conversations.create": OneConversation, "conversations.info": OneConversation,
    "conversations.rename": OneConversation, "conversations.setTopic": OneConversation,
    "conversations.setPurpose": OneConversation, "conversations.join": Joined, "conversations.invite": Invited,
    "conversations.open": Opened, "conversations.close": Closed, "conversations.history": History,
    "conversations.replies": Replies, "conversations.list": Conversations, "conversations.members": Members,
    "conversations.leave": Ok, "conversations.kick": Ok, "conversations.archive": Ok,
    "conversations.unarchive": Ok, "conversations.mark": Ok,
    "pins.add": Ok, "pins.remove": Ok, "pins.list": Pins,
    "reactions.add": Ok, "reactions.remove": Ok, "reactions.get": Reactions,
    "users.list": Users, "users.info": OneUser, "users.lookupByEmail": OneUser,
    "users.getPresence": Presence, "users.setPresence": Ok, "rtm.connect": RtmConnect,
    "chat.command": CommandSent, "apps.connections.open": ConnectionsOpen,
    "files.getUploadURLExternal": UploadUrl, "files.completeUploadExternal": Files, "files.info": FileInfo,
    "files.list": FileList, "files.delete": Ok, "files.upload": OneFile,
    "search.messages": SearchMessages, "search.files": SearchFiles, "search.all": SearchAll,
    "push.register": OneDevice, "push.unregister": Ok, "push.list": Devices,
    "client.counts": Counts, "users.counts": Counts, "subscriptions.thread.add": OneSubscription,
    "subscriptions.thread.remove": OneSubscription, "subscriptions.thread.mark": OneSubscription,
    "users.prefs.get": UserPrefs, "users.prefs.set": UserPrefs, "users.prefs.setNotifications": ChannelPrefs,
    "conversations.setUrgent": Urgent, "dnd.info": DndInfo, "dnd.teamInfo": DndTeamInfo,
    "dnd.setSnooze": Snoozed, "dnd.endSnooze": SnoozeEnded, "dnd.endDnd": Ok,
}
"""Each Slack method's ``ok: true`` answer (a method missing here is a test failure, not a silent gap)."""


# --- /v1 answers -------------------------------------------------------------------------------


@with_config(_CLOSED)
class V1Workspace(TypedDict):
    id: str
    name: str
    domain: str
    region_pin: str | None
    general: NotRequired[str]
    status: NotRequired[Literal["active", "frozen", "moved"]]
    moved_to: NotRequired[str | None]


@with_config(_CLOSED)
class V1User(TypedDict):
    id: str
    team_id: str
    email: str
    name: str
    is_admin: bool
    is_owner: bool
    is_bot: bool


@with_config(_CLOSED)
class CreatedWorkspace(Ok):
    workspace: V1Workspace
    owner: V1User
    token: str


@with_config(_CLOSED)
class HostedWorkspaces(Ok):
    workspaces: list[V1Workspace]


@with_config(_CLOSED)
class CreatedUser(Ok):
    user: V1User
    token: str


@with_config(_CLOSED)
class CreatedBot(CreatedUser):
    bot_id: str


@with_config(_CLOSED)
class TokenRevoked(Ok):
    revoked: Literal[True]


@with_config(_CLOSED)
class Deactivated(Ok):
    deactivated: Literal[True]


@with_config(_CLOSED)
class SignedIn(Ok):
    token: str
    user_id: str
    workspace_id: str


@with_config(_CLOSED)
class Health(Ok):
    cell: str
    region: str
    redis: str


@with_config(_CLOSED)
class PinState(TypedDict):
    id: str
    region_pin: str | None
    status: Literal["active", "frozen", "moved"]


@with_config(_CLOSED)
class RegionPinSet(Ok):
    workspace: PinState


@with_config(_CLOSED)
class Receiving(Ok):
    cell: str
    region: str


@with_config(_CLOSED)
class HandedOver(Ok):
    gateways: int
    cell: str


@with_config(_CLOSED)
class V1App(TypedDict):
    id: str
    team_id: str
    name: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_scopes: list[str]
    user_scopes: list[str]
    icon_url: str
    installed: bool
    created: int
    updated: int


@with_config(_CLOSED)
class V1AppToken(TypedDict):
    id: str
    kind: Literal["xoxp", "xoxb", "xapp"]
    user_id: str
    scopes: list[str]


@with_config(_CLOSED)
class AppInstalled(Ok):
    app: V1App
    bot_token: NotRequired[str]
    app_token: NotRequired[str]
    user_token: NotRequired[str]


@with_config(_CLOSED)
class AppList(Ok):
    apps: list[V1App]


@with_config(_CLOSED)
class OneApp(Ok):
    app: V1App
    tokens: list[V1AppToken]


@with_config(_CLOSED)
class AppUninstalled(Ok):
    uninstalled: Literal[True]
    revoked_tokens: int


@with_config(_CLOSED)
class TokenRotated(Ok):
    token: str


@with_config(_CLOSED)
class SecretRotated(Ok):
    signing_secret: str


@with_config(_CLOSED)
class V1Webhook(TypedDict):
    id: str
    app_id: str
    channel: str
    url: NotRequired[str]  # only when it is created: the secret is shown once
    created: NotRequired[int]
    created_by: NotRequired[str]
    revoked: NotRequired[bool]


@with_config(_CLOSED)
class WebhookCreated(Ok):
    webhook: V1Webhook


@with_config(_CLOSED)
class WebhookList(Ok):
    webhooks: list[V1Webhook]


@with_config(_CLOSED)
class WebhookRevoked(Ok):
    revoked: Literal[True]


@with_config(_CLOSED)
class V1EventSettings(TypedDict):
    app_id: str
    request_url: str | None
    socket_mode: bool
    events: list[str]
    enabled: bool
    disabled_at: str | None


@with_config(_CLOSED)
class EventSettings(Ok):
    events: V1EventSettings


@with_config(_CLOSED)
class V1Command(TypedDict):
    command: str
    app_id: str
    url: str | None
    description: str
    usage_hint: str


@with_config(_CLOSED)
class CommandRegistered(Ok):
    command: V1Command


@with_config(_CLOSED)
class V1Delivery(TypedDict):
    id: str
    kind: Literal["events_api", "slash_commands"]
    state: Literal["pending", "sending", "awaiting_ack", "delivered", "dead"]
    attempts: int
    retry_reason: str | None
    last_status: int | None
    event_id: str | None
    created_at: str
    delivered_at: str | None


@with_config(_CLOSED)
class DeliveryList(Ok):
    deliveries: list[V1Delivery]


_APP = "/v1/workspaces/{workspace_id}/apps/{app_id}"

V1: dict[tuple[str, str], type] = {
    ("/v1/workspaces/{workspace_id}/apps", "post"): AppInstalled,
    ("/v1/workspaces/{workspace_id}/apps", "get"): AppList,
    (_APP, "get"): OneApp,
    (f"{_APP}/install", "post"): AppInstalled,
    (f"{_APP}/uninstall", "post"): AppUninstalled,
    (f"{_APP}/tokens/rotate", "post"): TokenRotated,
    (f"{_APP}/signing_secret/rotate", "post"): SecretRotated,
    (f"{_APP}/webhooks", "post"): WebhookCreated,
    (f"{_APP}/webhooks", "get"): WebhookList,
    (f"{_APP}/webhooks/{{webhook_id}}/revoke", "post"): WebhookRevoked,
    (f"{_APP}/events", "put"): EventSettings,
    (f"{_APP}/commands", "post"): CommandRegistered,
    (f"{_APP}/deliveries", "get"): DeliveryList,
    ("/v1/workspaces/{workspace_id}/responses/{response_id}/{secret}", "post"): Ok,
    ("/v1/workspaces", "post"): CreatedWorkspace,
    ("/v1/workspaces", "get"): HostedWorkspaces,
    ("/v1/workspaces/{workspace_id}/users", "post"): CreatedUser,
    ("/v1/workspaces/{workspace_id}/bots", "post"): CreatedBot,
    ("/v1/workspaces/{workspace_id}/tokens/{token_id}/revoke", "post"): TokenRevoked,
    ("/v1/workspaces/{workspace_id}/users/{user_id}/deactivate", "post"): Deactivated,
    ("/v1/auth/signin", "post"): SignedIn,
    ("/v1/health", "get"): Health,
    ("/v1/control/workspaces/{workspace_id}/region-pin", "put"): RegionPinSet,
    ("/v1/control/workspaces/{workspace_id}/receive", "post"): Receiving,
    ("/v1/control/workspaces/{workspace_id}/handover", "post"): HandedOver,
}
"""Each cell ``/v1`` endpoint's successful answer, by (path, verb) as the OpenAPI document names it."""
