"""Do not disturb: a snooze, and a daily schedule in the person's own time zone (pure).

A person is in DND at an instant when a snooze spans it (``dnd.setSnooze`` from
``snooze_from`` to ``snooze_until``) or when it falls in that day's (or the previous
day's) scheduled window in their time zone and that window was not ended early then
(``dnd.endDnd`` pauses it from ``paused_from`` to ``paused_until``). A window whose end is
before its start crosses midnight: 22:00-08:00 covers the night. Daylight-saving changes
are taken as the zone defines them (the window is wall-clock time on each local day).

Every rule takes the instant to judge: the notification worker passes the **message's**
time, not the time it happens to decide (a worker catching up after a snooze ended still
knows a message was posted during it). Ending a snooze keeps its span (``snooze_until``
becomes the end), so that judgement holds after the end too; only the latest snooze and
pause are kept (a worker more than one snooze behind judges by the latest).

Slack's answers (``dnd.info``, ``dnd.teamInfo``, ``dnd_updated``) are built by
:func:`status`; ``next_dnd_start_ts``/``next_dnd_end_ts`` name the window running now,
else the next one, and are ``1`` when there is no schedule, as in Slack. Teammates
(``own=False``) of a person who snoozes see the snooze as the span of DND running now.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

MINUTES_PER_DAY = 24 * 60
MAX_SNOOZE_MINUTES = 7 * MINUTES_PER_DAY  # a week; longer is "too_long" (use the schedule, or leave)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Dnd:
    """One person's DND settings as stored (``notify_prefs``) plus their time zone."""

    tz: str = "UTC"
    enabled: bool = False  # the daily schedule is on
    start_minute: int = 22 * 60  # minutes after local midnight
    end_minute: int = 8 * 60
    snooze_until: datetime | None = None  # the snooze's end (kept after it ended, or was ended early)
    snooze_from: datetime | None = None  # when it began (None: a snooze stored before it was kept)
    paused_until: datetime | None = None  # dnd.endDnd ended the running window early, until then
    paused_from: datetime | None = None  # when it did (None: a pause stored before it was kept)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA zone name (``Europe/Berlin``, ``UTC``); nothing else is."""
    return name in _zones()


def parse_hhmm(value: str) -> int | None:
    """``"22:30"`` -> minutes after midnight; None if it is not a time of day ``H:MM``/``HH:MM``."""
    match = _HHMM.match(value.strip())
    if not match:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")  # stored zones are checked on the way in; never fail a read


def _window_of(day: date, dnd: Dnd, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(dnd.start_minute // 60, dnd.start_minute % 60), zone)
    end_day = day if dnd.end_minute > dnd.start_minute else day + timedelta(days=1)
    end = datetime.combine(end_day, time(dnd.end_minute // 60, dnd.end_minute % 60), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def current_or_next_window(dnd: Dnd, now: datetime) -> tuple[datetime, datetime] | None:
    """The scheduled window running at ``now``, else the next one to start; None without a schedule."""
    if not dnd.enabled:
        return None
    zone = _zone(dnd.tz)
    today = now.astimezone(zone).date()
    for offset in (-1, 0, 1, 2):
        start, end = _window_of(today + timedelta(days=offset), dnd, zone)
        if end > now:
            return start, end
    raise AssertionError("a daily window always ends within two days")  # pragma: no cover


def paused(dnd: Dnd, at: datetime) -> bool:
    """Whether ``dnd.endDnd`` had paused the schedule at ``at``."""
    if dnd.paused_until is None or dnd.paused_until <= at:
        return False
    return dnd.paused_from is None or dnd.paused_from <= at


def in_window(dnd: Dnd, at: datetime) -> bool:
    """Whether the schedule (not a snooze) holds notifications at ``at``."""
    window = current_or_next_window(dnd, at)
    if window is None or not window[0] <= at < window[1]:
        return False
    return not paused(dnd, at)


def snoozing(dnd: Dnd, at: datetime) -> bool:
    """Whether a snooze spans ``at`` (it began at or before, and ends after)."""
    if dnd.snooze_until is None or dnd.snooze_until <= at:
        return False
    return dnd.snooze_from is None or dnd.snooze_from <= at


def dnd_active(dnd: Dnd, at: datetime) -> bool:
    """Whether this person is in DND at ``at`` (snooze or schedule): a message posted then is
    not notified (no desktop notification, no push, ever), whenever it is decided."""
    return snoozing(dnd, at) or in_window(dnd, at)


def dnd_ends(dnd: Dnd, at: datetime) -> datetime | None:
    """When the DND running at ``at`` ends (the later of the snooze's end and the running
    window's; None if none runs): until then a push due is paused."""
    ends = []
    if snoozing(dnd, at) and dnd.snooze_until is not None:
        ends.append(dnd.snooze_until)
    if in_window(dnd, at):
        window = current_or_next_window(dnd, at)
        if window is not None:
            ends.append(window[1])
    return max(ends) if ends else None


def status(dnd: Dnd, now: datetime, *, own: bool) -> dict[str, Any]:
    """Slack's DND status: ``dnd.info`` (``own``: with the snooze fields), ``dnd.teamInfo``'s entries."""
    window = current_or_next_window(dnd, now)
    if window is not None and window[0] <= now and paused(dnd, now):
        # The running window was ended early: tell the next one.
        assert dnd.paused_until is not None
        window = current_or_next_window(dnd, max(window[1], dnd.paused_until))
    body: dict[str, Any] = {
        "dnd_enabled": dnd.enabled,
        "next_dnd_start_ts": int(window[0].timestamp()) if window else 1,
        "next_dnd_end_ts": int(window[1].timestamp()) if window else 1,
    }
    if not own and snoozing(dnd, now):
        # Teammates see one span of DND: from now until the snooze (or a window it runs into) ends.
        assert dnd.snooze_until is not None
        end = dnd.snooze_until
        if in_window(dnd, end):  # the window the snooze ends in (today's, or days ahead) runs on
            ending = current_or_next_window(dnd, end)
            assert ending is not None
            end = ending[1]
        body["next_dnd_start_ts"], body["next_dnd_end_ts"] = int(now.timestamp()), int(end.timestamp())
    if own:
        on = snoozing(dnd, now)
        body["snooze_enabled"] = on
        if on:
            assert dnd.snooze_until is not None
            body["snooze_endtime"] = int(dnd.snooze_until.timestamp())
            body["snooze_remaining"] = max(0, int((dnd.snooze_until - now).total_seconds()))
            body["snooze_is_indefinite"] = False
    return body
