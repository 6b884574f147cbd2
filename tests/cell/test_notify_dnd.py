"""DND rules (cell/notify/dnd.py): snooze, a daily schedule in the person's time zone, endDnd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cell.notify.dnd import Dnd, dnd_active, dnd_ends, parse_hhmm, status, valid_timezone

NIGHT_BERLIN = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60)


@pytest.mark.parametrize(("utc", "active"), [
    ("2026-01-15T20:59:00", False),  # 21:59 in Berlin (UTC+1)
    ("2026-01-15T21:00:00", True),   # 22:00: the window starts
    ("2026-01-15T23:30:00", True),   # after local midnight: yesterday's window runs on
    ("2026-01-16T06:59:00", True),   # 07:59
    ("2026-01-16T07:00:00", False),  # 08:00: it ended
    ("2026-07-15T20:00:00", True),   # 22:00 in summer (UTC+2): wall-clock time, not UTC
])
def test_a_window_across_midnight_in_the_persons_zone(utc: str, active: bool) -> None:
    """22:00-08:00 in Europe/Berlin holds from 22:00 to 08:00 local time, across midnight and DST."""
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert dnd_active(NIGHT_BERLIN, now) == active


def test_a_daytime_window_and_no_schedule() -> None:
    """A window within one day (12:00-13:00) holds only then; with the schedule off nothing holds."""
    lunch = Dnd(tz="UTC", enabled=True, start_minute=12 * 60, end_minute=13 * 60)
    noon = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert (dnd_active(lunch, noon), dnd_active(lunch, noon + timedelta(hours=1))) == (True, False)
    assert dnd_active(Dnd(enabled=False, start_minute=0, end_minute=1439), noon) is False


def test_a_snooze_holds_until_it_ends() -> None:
    """A snooze holds notifications until its end, whatever the schedule."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    snoozed = Dnd(snooze_until=now + timedelta(minutes=30))
    assert (dnd_active(snoozed, now), dnd_active(snoozed, now + timedelta(minutes=30))) == (True, False)
    assert status(snoozed, now, own=True) == {
        "dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1, "snooze_enabled": True,
        "snooze_endtime": int((now + timedelta(minutes=30)).timestamp()), "snooze_remaining": 1800,
        "snooze_is_indefinite": False,
    }


def test_ending_dnd_early_ends_only_the_running_window() -> None:
    """After dnd.endDnd at 23:00 the night's window is over; the next night's holds again, and the
    status names the next window."""
    now = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    ended = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60,
                paused_until=datetime(2026, 1, 16, 7, 0, tzinfo=UTC))
    assert dnd_active(ended, now) is False
    assert dnd_active(ended, now + timedelta(days=1)) is True
    assert status(ended, now, own=False) == {
        "dnd_enabled": True,
        "next_dnd_start_ts": int(datetime(2026, 1, 16, 21, 0, tzinfo=UTC).timestamp()),
        "next_dnd_end_ts": int(datetime(2026, 1, 17, 7, 0, tzinfo=UTC).timestamp()),
    }


def test_times_and_zones_are_checked() -> None:
    """Only H:MM/HH:MM times of day and IANA zone names are accepted."""
    assert [parse_hhmm(v) for v in ("22:00", "8:05", "24:00", "7", "12:60", "ab:cd")] == [1320, 485, None, None, None, None]
    assert [valid_timezone(z) for z in ("Europe/Berlin", "UTC", "Mars/Olympus", "../etc/passwd", "")] == [
        True, True, False, False, False]


def test_held_notifications_are_released_when_dnd_ends_as_the_clock_moves() -> None:
    """dnd_ends (the time source is the ``now`` passed in): a snooze ends at its end; a night
    window across midnight in Berlin ends at 08:00 Berlin; both at once end at the later one;
    once the clock has moved past that end, DND no longer holds and nothing is held any more."""
    now = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: in the night window
    snooze_end = now + timedelta(minutes=20)
    assert dnd_ends(Dnd(snooze_until=snooze_end), now) == snooze_end
    morning = datetime(2026, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert dnd_ends(NIGHT_BERLIN, now) == morning
    both = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60,
               snooze_until=morning + timedelta(hours=1))
    assert dnd_ends(both, now) == morning + timedelta(hours=1)
    later = morning + timedelta(seconds=1)
    assert (dnd_active(NIGHT_BERLIN, later), dnd_ends(NIGHT_BERLIN, later)) == (False, None)
    assert dnd_ends(Dnd(snooze_until=snooze_end), snooze_end) is None
