"""When an alarm fires: a local wall time on some weekdays, in a time zone.

Pure computation (no Home Assistant), cheap enough to run on every change.

An alarm belongs to a local date (`alarm_date`) and fires at most once for it. Daylight
saving time makes a wall time missing or doubled on some nights:

- Spring forward (a gap; 02:30 while clocks jump 02:00 -> 03:00): the wall time does
  not exist that day. The alarm fires at the end of the gap (03:00), the first instant
  at which the clock shows the alarm time or later, and is marked `shifted`. The gap
  is found from the zone itself, so 30 min gaps (Australia/Lord_Howe), 2 h gaps
  (Antarctica/Troll) and whole skipped days (Pacific/Apia, 2011-12-30) are handled.
- Fall back (a fold; 01:30 while clocks go 02:00 -> 01:00): the wall time happens
  twice. The alarm fires at the first one (PEP 495 `fold=0`) and not again; the
  second 01:30 belongs to no date of its own. Folds across midnight, up to a whole
  repeated day (America/Sitka, 1867-10-18), follow the same rule.

Where a gap swallows a whole day, the swallowed day's alarm can fall on the very
instant of the next day's (00:00 in Pacific/Apia on 2011-12-30 and 12-31): it fires
once, as the alarm of the earlier date. Instants of later dates never come earlier.

The time zone must follow PEP 495 (`zoneinfo.ZoneInfo` and `datetime.timezone` do).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

ALL_WEEKDAYS = frozenset(range(7))  # 0 = Monday ... 6 = Sunday, as date.weekday()

_ONE_DAY = timedelta(days=1)
# The next 7 days after any date hold every weekday.
_WEEK_AFTER = timedelta(days=8)
_RESOLUTION = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmOccurrence:
    """The alarm of one local date."""

    alarm_date: date  # the local date this occurrence belongs to
    fires_at: datetime  # aware, in UTC
    shifted: bool  # the wall time did not exist that day; fires at the end of the gap


def occurrence_on(alarm_date: date, alarm_time: time, tz: tzinfo) -> AlarmOccurrence:
    """When the alarm of `alarm_date` fires, whether or not that day is an alarm day.

    `alarm_time` is a naive wall time in `tz`; its `fold` is ignored (the first of two
    equal wall times always wins).
    """
    if alarm_time.tzinfo is not None:
        raise ValueError("alarm_time must be a naive wall time")
    wall = datetime.combine(alarm_date, alarm_time)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None, fold=0) == wall:
        return AlarmOccurrence(alarm_date=alarm_date, fires_at=first, shifted=False)
    return AlarmOccurrence(
        alarm_date=alarm_date, fires_at=_end_of_gap(wall, tz), shifted=True
    )


def _end_of_gap(wall: datetime, tz: tzinfo) -> datetime:
    """The first instant at which the clock in `tz` shows `wall` or later.

    Only called for a `wall` inside a gap. Read with the offset before the gap
    (fold=0) it is an instant after the jump, read with the offset after it (fold=1)
    one before: the jump lies between, and the clock runs monotonically on either side
    of it, so bisecting finds it exactly, whatever the length of the gap.
    """
    earlier, later = sorted(
        wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    # In whole microseconds, the finest step a datetime has, so the result is exact.
    low, high = 0, (later - earlier) // _RESOLUTION
    while high - low > 1:
        middle = (low + high) // 2
        if (earlier + middle * _RESOLUTION).astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return earlier + high * _RESOLUTION


def next_occurrence(
    after: datetime,
    *,
    alarm_time: time,
    weekdays: Collection[int],
    tz: tzinfo,
    skip: Collection[date] = (),
) -> AlarmOccurrence | None:
    """The first occurrence that fires strictly after `after`, or None without weekdays.

    `after` is aware, in any zone. `weekdays` (0 = Monday ... 6 = Sunday) and `skip`
    are about local dates in `tz`: an occurrence is passed over if its `alarm_date`
    falls on another weekday or is in `skip`. Feeding back `fires_at` as `after`
    walks through the alarms one by one, each once.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be an aware datetime")
    if not ALL_WEEKDAYS.issuperset(weekdays):
        raise ValueError("weekdays must be between 0 (Monday) and 6 (Sunday)")
    # Through UTC: `astimezone` leaves a datetime already in `tz` as it is, even a
    # wall time that never existed there.
    local_date = after.astimezone(UTC).astimezone(tz).date()
    # From the day before: a wall time late in that day, in a gap that crosses
    # midnight, fires on the local date of `after`.
    day = local_date - _ONE_DAY
    # Up to the day after the local date of `after`, an alarm may have fired already
    # (the next day's, if the clock fell back across midnight). Every later one fires
    # after `after`, and the week after that day holds every weekday; a skipped date
    # pushes the end to the week after it.
    end = local_date + _ONE_DAY + _WEEK_AFTER
    while day < end:
        if day.weekday() in weekdays:
            if day in skip:
                end = max(end, day + _WEEK_AFTER)
            else:
                occurrence = occurrence_on(day, alarm_time, tz)
                if occurrence.fires_at > after:
                    return occurrence
        day += _ONE_DAY
    return None
