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


def test_a_snooze_is_judged_at_the_instant_asked_even_after_it_ended() -> None:
    """A snooze from 12:00 to 12:30 (ended early at 12:30 or run out): an instant inside it is
    in DND, one before it began or after it ended is not, whenever the question is asked; a
    snooze stored without its start holds from any earlier instant."""
    began, ended = datetime(2026, 3, 2, 12, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    snooze = Dnd(snooze_from=began, snooze_until=ended)
    instants = [began - timedelta(seconds=1), began, ended - timedelta(seconds=1), ended]
    assert [dnd_active(snooze, at) for at in instants] == [False, True, True, False]
    assert dnd_active(Dnd(snooze_until=ended), began - timedelta(days=1)) is True


def test_an_ended_window_holds_before_the_end_dnd_and_not_after() -> None:
    """dnd.endDnd at 23:00 Berlin ends the night's window from then on: 22:30 (before it) was
    in DND, 23:30 is not, and the next night holds again."""
    paused = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60,
                 paused_from=datetime(2026, 1, 15, 22, 0, tzinfo=UTC),
                 paused_until=datetime(2026, 1, 16, 7, 0, tzinfo=UTC))
    instants = [datetime(2026, 1, 15, 21, 30, tzinfo=UTC), datetime(2026, 1, 15, 22, 30, tzinfo=UTC),
                datetime(2026, 1, 16, 21, 30, tzinfo=UTC)]
    assert [dnd_active(paused, at) for at in instants] == [True, False, True]


@pytest.mark.parametrize(("tz", "utc", "start", "end"), [
    # 23:30 in Los Angeles (UTC-8) on the 15th: the window that began at 22:00 that evening.
    ("America/Los_Angeles", "2026-01-16T07:30:00", "2026-01-16T06:00:00", "2026-01-16T14:00:00"),
    # 05:00 in Kolkata (UTC+5:30) on the 16th: the window that began the evening before.
    ("Asia/Kolkata", "2026-01-15T23:30:00", "2026-01-15T16:30:00", "2026-01-16T00:30:00"),
    # 09:00 in Auckland (UTC+13) on the 16th: it ended at 06:00; the next one starts at 22:00.
    ("Pacific/Auckland", "2026-01-15T20:00:00", "2026-01-16T09:00:00", "2026-01-16T17:00:00"),
    # 21:00 in Berlin the evening before DST starts: tonight's window is 22:00 CET to 06:00 CEST.
    ("Europe/Berlin", "2026-03-28T20:00:00", "2026-03-28T21:00:00", "2026-03-29T04:00:00"),
])
def test_next_window_across_midnight_and_zones(tz: str, utc: str, start: str, end: str) -> None:
    """next_dnd_start_ts/next_dnd_end_ts of a 22:00-06:00 schedule name the window running now,
    else the next, in the person's zone whatever UTC's date is."""
    night = Dnd(tz=tz, enabled=True, start_minute=22 * 60, end_minute=6 * 60)
    ts = lambda iso: int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp())  # noqa: E731
    answer = status(night, datetime.fromisoformat(utc).replace(tzinfo=UTC), own=False)
    assert (answer["next_dnd_start_ts"], answer["next_dnd_end_ts"]) == (ts(start), ts(end))


def test_a_push_due_during_dnd_waits_for_its_end() -> None:
    """dnd_ends (when a push due now may go): a snooze at its end; the night window in Berlin at
    08:00 Berlin the next morning, across midnight; both at once at the later; nothing once over."""
    now = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: in the night window
    snooze_end = now + timedelta(minutes=20)
    assert dnd_ends(Dnd(snooze_from=now, snooze_until=snooze_end), now) == snooze_end
    morning = datetime(2026, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert dnd_ends(NIGHT_BERLIN, now) == morning
    both = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60,
               snooze_until=morning + timedelta(hours=1))
    assert dnd_ends(both, now) == morning + timedelta(hours=1)
    assert (dnd_ends(NIGHT_BERLIN, morning), dnd_ends(Dnd(snooze_until=snooze_end), snooze_end)) == (None, None)


def test_teammates_see_a_long_snooze_run_on_into_the_window_it_ends_in() -> None:
    """A snooze from Monday noon to Wednesday 23:00 in Berlin ends inside Wednesday night's
    22:00-08:00 window: teammates see DND from now until Thursday 08:00 Berlin, not 23:00."""
    now = datetime(2026, 1, 12, 11, 0, tzinfo=UTC)  # Monday 12:00 in Berlin
    snoozed = Dnd(tz="Europe/Berlin", enabled=True, start_minute=22 * 60, end_minute=8 * 60,
                  snooze_from=now, snooze_until=datetime(2026, 1, 14, 22, 0, tzinfo=UTC))
    answer = status(snoozed, now, own=False)
    assert (answer["next_dnd_start_ts"], answer["next_dnd_end_ts"]) == (
        int(now.timestamp()), int(datetime(2026, 1, 15, 7, 0, tzinfo=UTC).timestamp()))
