"""When an alarm fires: weekdays, skipped dates, time zones and DST nights."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from custom_components.wakeup_coach.alarm_clock import (
    ALL_WEEKDAYS,
    AlarmOccurrence,
    next_occurrence,
    occurrence_on,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAYS = frozenset({0, 1, 2, 3, 4})
MONDAY = frozenset({0})
HALF_PAST_SIX = time(6, 30)
MICROSECOND = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def fires(
    alarm_date: date, fires_at: datetime, *, shifted: bool = False
) -> AlarmOccurrence:
    return AlarmOccurrence(alarm_date=alarm_date, fires_at=fires_at, shifted=shifted)


def next_in_berlin(
    after: datetime,
    weekdays: Collection[int] = ALL_WEEKDAYS,
    skip: Collection[date] = (),
    alarm_time: time = HALF_PAST_SIX,
) -> AlarmOccurrence | None:
    return next_occurrence(
        after, alarm_time=alarm_time, weekdays=weekdays, tz=BERLIN, skip=skip
    )


# --- weekdays and the time of day (Berlin in summer: UTC+2) --------------------------


def test_workdays_friday_after_the_alarm_goes_to_monday() -> None:
    """2026-06-05 is a Friday."""
    assert next_in_berlin(berlin("2026-06-05 07:00"), WORKDAYS) == fires(
        date(2026, 6, 8), utc("2026-06-08 04:30")
    )


def test_workdays_saturday_goes_to_monday() -> None:
    assert next_in_berlin(berlin("2026-06-06 05:00"), WORKDAYS) == fires(
        date(2026, 6, 8), utc("2026-06-08 04:30")
    )


def test_all_days_friday_after_the_alarm_goes_to_saturday() -> None:
    assert next_in_berlin(berlin("2026-06-05 07:00")) == fires(
        date(2026, 6, 6), utc("2026-06-06 04:30")
    )


def test_single_weekday_after_its_alarm_waits_a_week() -> None:
    assert next_in_berlin(berlin("2026-06-08 06:31"), MONDAY) == fires(
        date(2026, 6, 15), utc("2026-06-15 04:30")
    )


def test_no_weekdays_never_fires() -> None:
    assert next_in_berlin(berlin("2026-06-05 07:00"), frozenset()) is None


def test_same_day_before_the_time() -> None:
    assert next_in_berlin(berlin("2026-06-05 06:29:59")) == fires(
        date(2026, 6, 5), utc("2026-06-05 04:30")
    )


def test_same_day_after_the_time() -> None:
    assert next_in_berlin(berlin("2026-06-05 06:30:00.000001")) == fires(
        date(2026, 6, 6), utc("2026-06-06 04:30")
    )


def test_exactly_at_the_time_is_not_after_it() -> None:
    assert next_in_berlin(berlin("2026-06-05 06:30")) == fires(
        date(2026, 6, 6), utc("2026-06-06 04:30")
    )


def test_seconds_of_the_alarm_time_count() -> None:
    assert next_in_berlin(
        berlin("2026-06-05 06:30"), alarm_time=time(6, 30, 15)
    ) == fires(date(2026, 6, 5), utc("2026-06-05 04:30:15"))


def test_weekdays_is_any_collection() -> None:
    assert next_in_berlin(berlin("2026-06-05 07:00"), [0, 2]) == fires(
        date(2026, 6, 8), utc("2026-06-08 04:30")
    )


# --- midnight and year ends ----------------------------------------------------------


def test_midnight_alarm_on_new_year() -> None:
    """2027-01-01 is a Friday; Berlin is UTC+1 in winter, so it fires in 2026 UTC."""
    assert next_in_berlin(
        berlin("2026-12-31 12:00"), frozenset({4}), alarm_time=time(0, 0)
    ) == fires(date(2027, 1, 1), utc("2026-12-31 23:00"))


def test_last_second_of_the_year() -> None:
    assert next_in_berlin(
        berlin("2026-12-31 23:59:58"), alarm_time=time(23, 59, 59)
    ) == fires(date(2026, 12, 31), utc("2026-12-31 22:59:59"))


def test_after_the_last_second_of_the_year() -> None:
    assert next_in_berlin(
        berlin("2026-12-31 23:59:59"), alarm_time=time(23, 59, 59)
    ) == fires(date(2027, 1, 1), utc("2027-01-01 22:59:59"))


# --- skipped dates -------------------------------------------------------------------


def test_skip_one_date() -> None:
    assert next_in_berlin(
        berlin("2026-06-05 07:00"), WORKDAYS, skip={date(2026, 6, 8)}
    ) == fires(date(2026, 6, 9), utc("2026-06-09 04:30"))


def test_skip_several_dates() -> None:
    skip = {date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 11)}
    assert next_in_berlin(berlin("2026-06-05 07:00"), WORKDAYS, skip=skip) == fires(
        date(2026, 6, 10), utc("2026-06-10 04:30")
    )


def test_skip_consecutive_weeks_of_a_single_weekday() -> None:
    skip = [date(2026, 6, 8), date(2026, 6, 15), date(2026, 6, 22)]
    assert next_in_berlin(berlin("2026-06-05 07:00"), MONDAY, skip=skip) == fires(
        date(2026, 6, 29), utc("2026-06-29 04:30")
    )


def test_skip_of_a_day_without_alarm_changes_nothing() -> None:
    assert next_in_berlin(
        berlin("2026-06-05 07:00"), WORKDAYS, skip={date(2026, 6, 6)}
    ) == fires(date(2026, 6, 8), utc("2026-06-08 04:30"))


def test_skip_of_the_alarm_that_already_fired_changes_nothing() -> None:
    assert next_in_berlin(berlin("2026-06-05 07:00"), skip={date(2026, 6, 5)}) == fires(
        date(2026, 6, 6), utc("2026-06-06 04:30")
    )


# --- time zones ----------------------------------------------------------------------


def test_after_given_in_another_zone() -> None:
    """08:00 in Los Angeles is 17:00 in Berlin, before a 17:30 alarm there."""
    after = datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert next_in_berlin(after, alarm_time=time(17, 30)) == fires(
        date(2026, 6, 1), utc("2026-06-01 15:30")
    )


def test_after_given_in_utc_on_the_previous_day() -> None:
    """23:00 UTC on Sunday is already Monday 01:00 in Berlin."""
    assert next_in_berlin(utc("2026-06-07 23:00"), MONDAY) == fires(
        date(2026, 6, 8), utc("2026-06-08 04:30")
    )


def test_after_given_as_a_wall_time_that_never_existed() -> None:
    """Kiritimati skipped 1994-12-31: read with UTC-10, its 07:00 is 1995-01-01 07:00.

    So the next Sunday 00:00 is a week later, not the one before it.
    """
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    assert next_occurrence(
        datetime(1994, 12, 31, 7, 0, tzinfo=kiritimati),
        alarm_time=time(0, 0),
        weekdays=frozenset({6}),
        tz=kiritimati,
    ) == fires(date(1995, 1, 8), utc("1995-01-07 10:00"))


def test_weekday_is_local_far_east_of_utc() -> None:
    """Monday 06:30 at UTC+14 is Sunday 16:30 UTC."""
    assert next_occurrence(
        utc("2026-01-04 12:00"),
        alarm_time=HALF_PAST_SIX,
        weekdays=MONDAY,
        tz=ZoneInfo("Pacific/Kiritimati"),
    ) == fires(date(2026, 1, 5), utc("2026-01-04 16:30"))


def test_offset_with_minutes() -> None:
    """Kathmandu is UTC+05:45."""
    assert next_occurrence(
        utc("2026-01-04 12:00"),
        alarm_time=time(6, 0),
        weekdays=MONDAY,
        tz=ZoneInfo("Asia/Kathmandu"),
    ) == fires(date(2026, 1, 5), utc("2026-01-05 00:15"))


def test_fixed_offset_zone() -> None:
    assert next_occurrence(
        utc("2026-01-04 12:00"),
        alarm_time=time(6, 0),
        weekdays=ALL_WEEKDAYS,
        tz=timezone(timedelta(hours=-3, minutes=-30)),
    ) == fires(date(2026, 1, 5), utc("2026-01-05 09:30"))


# --- DST nights ----------------------------------------------------------------------

DST_NIGHTS = [
    # Spring forward: inside the gap, fires at its end.
    ("Europe/Berlin", date(2026, 3, 29), time(2, 30), utc("2026-03-29 01:00"), True),
    ("Europe/Berlin", date(2026, 3, 29), time(2, 0), utc("2026-03-29 01:00"), True),
    ("Europe/Berlin", date(2026, 3, 29), time(3, 0), utc("2026-03-29 01:00"), False),
    ("Europe/Berlin", date(2026, 3, 29), time(1, 59, 59), utc("2026-03-29 00:59:59"), False),
    ("America/New_York", date(2026, 3, 8), time(2, 30), utc("2026-03-08 07:00"), True),
    # A 30 min gap: 02:00 -> 02:30 at UTC+10:30.
    ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc("2026-10-03 15:30"), True),
    # A 2 h gap: 01:00 -> 03:00.
    ("Antarctica/Troll", date(2026, 3, 29), time(2, 0), utc("2026-03-29 01:00"), True),
    # A gap at midnight: 00:00 -> 01:00.
    ("America/Santiago", date(2026, 9, 6), time(0, 30), utc("2026-09-06 04:00"), True),
    # A whole day skipped: 2011-12-29 24:00 at UTC-10 became 2011-12-31 00:00 at UTC+14.
    ("Pacific/Apia", date(2011, 12, 30), time(7, 0), utc("2011-12-30 10:00"), True),
    # Fall back: ambiguous, fires at the first one.
    ("Europe/Berlin", date(2026, 10, 25), time(2, 30), utc("2026-10-25 00:30"), False),
    ("America/New_York", date(2026, 11, 1), time(1, 30), utc("2026-11-01 05:30"), False),
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc("2026-04-04 14:45"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "alarm_date", "alarm_time", "fires_at", "shifted"), DST_NIGHTS
)
def test_occurrence_on_dst_night(
    zone: str, alarm_date: date, alarm_time: time, fires_at: datetime, shifted: bool
) -> None:
    assert occurrence_on(alarm_date, alarm_time, ZoneInfo(zone)) == fires(
        alarm_date, fires_at, shifted=shifted
    )


@pytest.mark.parametrize(
    ("zone", "alarm_date", "alarm_time", "fires_at", "shifted"), DST_NIGHTS
)
def test_next_occurrence_on_dst_night(
    zone: str, alarm_date: date, alarm_time: time, fires_at: datetime, shifted: bool
) -> None:
    """Asked at noon the day before, in the zone."""
    tz = ZoneInfo(zone)
    after = datetime.combine(alarm_date - timedelta(days=1), time(12, 0), tzinfo=tz)
    assert next_occurrence(
        after, alarm_time=alarm_time, weekdays=ALL_WEEKDAYS, tz=tz
    ) == fires(alarm_date, fires_at, shifted=shifted)


def test_spring_forward_fires_once_at_the_end_of_the_gap() -> None:
    """After the shifted 03:00 comes the next day's 02:30, not the real 03:00 too."""
    assert next_in_berlin(utc("2026-03-29 01:00"), alarm_time=time(2, 30)) == fires(
        date(2026, 3, 30), utc("2026-03-30 00:30")
    )


def test_fall_back_fires_once_in_berlin() -> None:
    """The second 02:30 (01:30 UTC) is not an alarm; Monday's 02:30 at UTC+1 is."""
    assert next_in_berlin(utc("2026-10-25 00:30"), alarm_time=time(2, 30)) == fires(
        date(2026, 10, 26), utc("2026-10-26 01:30")
    )


def test_fall_back_fires_once_in_new_york() -> None:
    """The second 01:30 (06:30 UTC) is not an alarm; Monday's 01:30 at UTC-5 is."""
    assert next_occurrence(
        utc("2026-11-01 05:30"),
        alarm_time=time(1, 30),
        weekdays=ALL_WEEKDAYS,
        tz=NEW_YORK,
    ) == fires(date(2026, 11, 2), utc("2026-11-02 06:30"))


def test_fall_back_between_the_two_ambiguous_times() -> None:
    """Asked at the second 01:00, after the first 01:30 fired: Monday's is next."""
    assert next_occurrence(
        utc("2026-11-01 06:00"),
        alarm_time=time(1, 30),
        weekdays=ALL_WEEKDAYS,
        tz=NEW_YORK,
    ) == fires(date(2026, 11, 2), utc("2026-11-02 06:30"))


def test_gap_across_midnight_belongs_to_the_day_before() -> None:
    """Apia skipped 2011-12-30: asked at Dec 29 23:00, Dec 30's 07:00 comes first."""
    apia = ZoneInfo("Pacific/Apia")
    assert next_occurrence(
        datetime(2011, 12, 29, 23, 0, tzinfo=apia),
        alarm_time=time(7, 0),
        weekdays=ALL_WEEKDAYS,
        tz=apia,
    ) == fires(date(2011, 12, 30), utc("2011-12-30 10:00"), shifted=True)


def test_fall_back_across_midnight_by_a_whole_day() -> None:
    """Sitka repeated 1867-10-18: 1867-10-19 15:30 at UTC+14:58:47 became 10-18 15:30.

    So Saturday 10-19's 07:00 came before the second Friday 10-18 20:00; the next
    Saturday's alarm is a week later.
    """
    sitka = ZoneInfo("America/Sitka")
    assert next_occurrence(
        datetime(1867, 10, 18, 20, 0, tzinfo=sitka, fold=1),
        alarm_time=time(7, 0),
        weekdays=frozenset({5}),
        tz=sitka,
    ) == fires(date(1867, 10, 26), utc("1867-10-26 16:01:13"))


# --- invalid input -------------------------------------------------------------------


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_in_berlin(datetime(2026, 6, 5, 7, 0))  # noqa: DTZ001


def test_weekday_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        next_in_berlin(berlin("2026-06-05 07:00"), {7})


def test_aware_alarm_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        occurrence_on(date(2026, 6, 5), time(6, 30, tzinfo=UTC), BERLIN)


def test_fold_of_the_alarm_time_is_ignored() -> None:
    assert occurrence_on(date(2026, 11, 1), time(1, 30, fold=1), NEW_YORK) == fires(
        date(2026, 11, 1), utc("2026-11-01 05:30")
    )


# --- properties, over a year of every zone's quirks ----------------------------------

ZONES = [
    ("Europe/Berlin", 2026),
    ("America/New_York", 2026),
    ("Australia/Lord_Howe", 2026),  # 30 min DST
    ("Antarctica/Troll", 2026),  # 2 h DST
    ("Europe/Dublin", 2026),  # negative DST in tzdata
    ("America/Santiago", 2026),  # changes at midnight
    ("Asia/Beirut", 2026),  # falls back from 00:00 to 23:00 of the day before
    ("Africa/Casablanca", 2026),  # an hour less during Ramadan
    ("Pacific/Chatham", 2026),  # UTC+12:45 / +13:45
    ("Asia/Kathmandu", 2026),  # UTC+05:45
    ("Pacific/Kiritimati", 2026),  # UTC+14
    ("Pacific/Apia", 2011),  # skipped 2011-12-30
    ("Pacific/Kiritimati", 1994),  # skipped 1994-12-31
    ("America/Sitka", 1867),  # repeated 1867-10-18
]
TIMES = [
    time(0, 0),
    time(0, 30),
    time(1, 30),
    time(2, 0),
    time(2, 30),
    time(6, 45, 30),
    time(23, 30),
    time(23, 59, 59),
]
WEEKDAY_SETS = [ALL_WEEKDAYS, WORKDAYS, frozenset({6}), frozenset({2, 5})]


def days_of(first_year: int, last_year: int | None = None) -> Iterator[date]:
    day = date(first_year, 1, 1)
    while day.year <= (last_year or first_year):
        yield day
        day += timedelta(days=1)


def check_occurrence(
    occurrence: AlarmOccurrence, alarm_time: time, tz: ZoneInfo
) -> None:
    """What `occurrence_on` promises, checked against the zone directly."""
    fires_at = occurrence.fires_at
    assert fires_at.tzinfo is UTC
    local = fires_at.astimezone(tz)
    wall = datetime.combine(occurrence.alarm_date, alarm_time)
    if occurrence.shifted:
        # The clock jumps over the wall time exactly at `fires_at`.
        assert (fires_at - MICROSECOND).astimezone(tz).replace(tzinfo=None) < wall
        assert local.replace(tzinfo=None) > wall
    else:
        # The wall time, and its first occurrence if it has two.
        assert local.replace(tzinfo=None) == wall
        assert local.fold == 0


def alarm_dates(
    days: Iterable[date], alarm_time: time, tz: ZoneInfo, skip: Collection[date]
) -> list[date]:
    """The dates with an alarm of their own, in order.

    Where a gap swallows a whole day (Apia, 2011-12-30), the alarm of the swallowed
    day can fire at the very instant of the next day's: it fires once, for the first.
    """
    dates: list[date] = []
    last_fired: datetime | None = None
    for day in days:
        fires_at = occurrence_on(day, alarm_time, tz).fires_at
        if day not in skip and fires_at != last_fired:
            dates.append(day)
            last_fired = fires_at
    return dates


@pytest.mark.parametrize(("zone", "year"), ZONES)
def test_iterating_gives_every_alarm_date_once_in_order(zone: str, year: int) -> None:
    """Each alarm day of the year once, at increasing instants, each just in reach."""
    tz = ZoneInfo(zone)
    skip = {day for day in days_of(year) if day.day % 9 == 0}
    # The densest and the sparsest; the next test has the others.
    for weekdays in (ALL_WEEKDAYS, frozenset({6})):
        for alarm_time in TIMES:
            expected = alarm_dates(
                (day for day in days_of(year) if day.weekday() in weekdays),
                alarm_time,
                tz,
                skip,
            )
            after = datetime(year, 1, 1, tzinfo=tz) - MICROSECOND
            seen: list[date] = []
            while len(seen) < len(expected):
                occurrence = next_occurrence(
                    after, alarm_time=alarm_time, weekdays=weekdays, tz=tz, skip=skip
                )
                assert occurrence is not None
                assert occurrence.fires_at > after
                assert occurrence.alarm_date.weekday() in weekdays
                check_occurrence(occurrence, alarm_time, tz)
                assert (
                    next_occurrence(
                        occurrence.fires_at - MICROSECOND,
                        alarm_time=alarm_time,
                        weekdays=weekdays,
                        tz=tz,
                        skip=skip,
                    )
                    == occurrence
                )
                seen.append(occurrence.alarm_date)
                after = occurrence.fires_at
            assert seen == expected, (zone, sorted(weekdays), alarm_time)


@pytest.mark.parametrize(("zone", "year"), ZONES)
def test_next_occurrence_is_the_earliest_after_any_instant(
    zone: str, year: int
) -> None:
    """From instants at odd steps through the year, against every date's alarm."""
    tz = ZoneInfo(zone)
    skip = {date(year, 3, 8), date(year, 3, 9), date(year, 10, 25)}
    # Not a whole number of hours: over the year, `after` falls at every time of day.
    step = timedelta(hours=29, minutes=13, seconds=11)
    for alarm_time in TIMES:
        everyday = [
            occurrence_on(day, alarm_time, tz) for day in days_of(year, year + 1)
        ]
        for weekdays in WEEKDAY_SETS:
            # Ties (a day swallowed by a gap) go to the earlier date.
            candidates = sorted(
                (
                    occurrence
                    for occurrence in everyday
                    if occurrence.alarm_date.weekday() in weekdays
                    and occurrence.alarm_date not in skip
                ),
                key=lambda occurrence: (occurrence.fires_at, occurrence.alarm_date),
            )
            instants = [occurrence.fires_at for occurrence in candidates]
            after = datetime(year, 1, 1, tzinfo=tz)
            while after.year == year:
                earliest = candidates[bisect_right(instants, after)]
                assert (
                    next_occurrence(
                        after,
                        alarm_time=alarm_time,
                        weekdays=weekdays,
                        tz=tz,
                        skip=skip,
                    )
                    == earliest
                ), (zone, sorted(weekdays), alarm_time, after)
                after += step
