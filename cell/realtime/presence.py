"""Presence and typing in Redis (ephemeral: nothing here is in PostgreSQL).

Keys, per workspace ``W`` and user ``U``:

- ``pr:W:U``  sorted set: live connection id -> expiry (unix seconds);
- ``pr:W``    sorted set: user -> latest expiry of any of their connections
  (swept to find users whose gateway died without saying goodbye);
- ``pra:W``   set: users who set themselves away (``users.setPresence``);
- ``prs:W`` sorted set: user -> when any of their connections was last alive (unix seconds;
  kept after they go offline: the notification worker's "last active", docs/notifications.md);
- ``typ:W:C:U`` typing debounce marker.

Transitions are decided inside Lua scripts, so exactly one caller learns that a
user went online or offline and publishes the ``presence_change``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from cell.realtime.wire import channel_topic, presence_message, presence_topic, typing_message

ACTIVE, AWAY = "active", "away"

_CONNECT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
redis.call('ZADD', KEYS[4], 'GT', ARGV[2], ARGV[5])
if before == 0 and redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 0 then
  return 1
end
return 0
"""

_DISCONNECT = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[4], 'GT', ARGV[2], ARGV[3])
if redis.call('ZCARD', KEYS[1]) == 0 then
  local was = redis.call('ZREM', KEYS[2], ARGV[3])
  if was == 1 and redis.call('SISMEMBER', KEYS[3], ARGV[3]) == 0 then
    return 1
  end
end
return 0
"""

_SWEEP = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
local changed = {}
for _, user in ipairs(gone) do
  redis.call('ZREM', KEYS[1], user)
  if redis.call('SISMEMBER', KEYS[2], user) == 0 then
    table.insert(changed, user)
  end
end
return changed
"""

_SET_AWAY = """
local changed
if ARGV[2] == '1' then
  changed = redis.call('SADD', KEYS[2], ARGV[1])
else
  changed = redis.call('SREM', KEYS[2], ARGV[1])
end
if changed == 1 and redis.call('ZCOUNT', KEYS[1], ARGV[3], '+inf') > 0 then
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Presence:
    user: str
    presence: str  # Slack's value: active or away
    online: bool
    manual_away: bool
    connection_count: int

    @property
    def status(self) -> str:
        """Our three states: online, away (online but set away) or offline."""
        if not self.online:
            return "offline"
        return "away" if self.manual_away else "online"


def _conns(workspace: str, user: str) -> str:
    return f"pr:{workspace}:{user}"


def _users(workspace: str) -> str:
    return f"pr:{workspace}"


def _away(workspace: str) -> str:
    return f"pra:{workspace}"


def _seen(workspace: str) -> str:
    return f"prs:{workspace}"


class PresenceStore:
    """Presence of connections and users; publishes ``presence_change`` on transitions."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self._connect = redis.register_script(_CONNECT)
        self._disconnect = redis.register_script(_DISCONNECT)
        self._sweep = redis.register_script(_SWEEP)
        self._set_away = redis.register_script(_SET_AWAY)

    async def _announce(self, workspace: str, user: str, presence: str) -> None:
        await self.redis.publish(presence_topic(workspace), presence_message(workspace, user, presence))

    async def connected(self, workspace: str, user: str, connection: str) -> None:
        """A connection is alive (on connect and on every heartbeat); may announce ``active``."""
        now = time.time()
        came_online = await self._connect(
            keys=[_conns(workspace, user), _users(workspace), _away(workspace), _seen(workspace)],
            args=[connection, now, now + self.ttl, int(self.ttl * 1000), user],
        )
        if came_online:
            await self._announce(workspace, user, ACTIVE)

    async def refresh(self, connections: list[tuple[str, str, str]]) -> None:
        """Heartbeat for many ``(workspace, user, connection)`` at once (one round trip)."""
        if not connections:
            return
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for workspace, user, connection in connections:
                await self._connect(
                    keys=[_conns(workspace, user), _users(workspace), _away(workspace), _seen(workspace)],
                    args=[connection, now, now + self.ttl, int(self.ttl * 1000), user],
                    client=pipe,
                )
            results = await pipe.execute()
        for (workspace, user, _), came_online in zip(connections, results, strict=True):
            if came_online:
                await self._announce(workspace, user, ACTIVE)

    async def disconnected(self, workspace: str, user: str, connection: str) -> None:
        went_offline = await self._disconnect(
            keys=[_conns(workspace, user), _users(workspace), _away(workspace), _seen(workspace)],
            args=[connection, time.time(), user],
        )
        if went_offline:
            await self._announce(workspace, user, AWAY)

    async def sweep(self, workspace: str) -> None:
        """Announce users whose every connection expired (their gateway died)."""
        gone = await self._sweep(keys=[_users(workspace), _away(workspace)], args=[time.time()])
        for user in gone:
            await self._announce(workspace, user.decode() if isinstance(user, bytes) else str(user), AWAY)

    async def set_manual_away(self, workspace: str, user: str, away: bool) -> None:
        """``users.setPresence``: away sticks until ``auto``; announced if the user is online."""
        changed = await self._set_away(
            keys=[_conns(workspace, user), _away(workspace)], args=[user, "1" if away else "0", time.time()]
        )
        if changed:
            await self._announce(workspace, user, AWAY if away else ACTIVE)

    async def get(self, workspace: str, users: list[str]) -> list[Presence]:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.zcount(_conns(workspace, user), now, "+inf")
                pipe.sismember(_away(workspace), user)
            results = await pipe.execute()
        found = []
        for i, user in enumerate(users):
            count, away = int(results[2 * i]), bool(results[2 * i + 1])
            online = count > 0
            found.append(Presence(user, ACTIVE if online and not away else AWAY, online, away, count))
        return found


async def online_users(redis: aioredis.Redis, workspace: str) -> set[str]:
    """Everyone with a live connection in ``workspace`` now, except those set away (one round trip):
    who ``@here`` reaches."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(_users(workspace), time.time(), "+inf")
        pipe.smembers(_away(workspace))
        alive, away = await pipe.execute()
    return {str(u) for u in alive} - {str(u) for u in away}


async def last_active(redis: aioredis.Redis, workspace: str, users: list[str]) -> dict[str, float]:
    """When each of ``users`` was last alive on any device (unix seconds; now if online now,
    0 if never seen). One round trip."""
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.zscore(_users(workspace), user)
            pipe.zscore(_seen(workspace), user)
        results = await pipe.execute()
    found: dict[str, float] = {}
    for i, user in enumerate(users):
        expiry, seen = results[2 * i], results[2 * i + 1]
        found[user] = now if expiry is not None and float(expiry) > now else float(seen or 0.0)
    return found


async def typing(
    redis: aioredis.Redis, workspace: str, channel: str, user: str, debounce_seconds: float
) -> bool:
    """Publish ``user_typing`` unless this user did in this conversation within the debounce window."""
    fresh = await redis.set(f"typ:{workspace}:{channel}:{user}", "1", nx=True, px=int(debounce_seconds * 1000))
    if fresh:
        await redis.publish(channel_topic(workspace, channel), typing_message(workspace, channel, user))
    return bool(fresh)
