"""The alarm clock of a sleeper, in frozen time: when it calls, and what it does after.

Home Assistant's own timers drive it (async_fire_time_changed); the calls it
places go to a recording host, since what a call does is tested elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wakeup_coach.alarm_clock import AlarmOccurrence
from custom_components.wakeup_coach.call_session import CallSession
from custom_components.wakeup_coach.models import (
    CallMode,
    CallResult,
    CallTrigger,
    SleeperConfig,
    SleeperSettings,
    TriggerKind,
)
from custom_components.wakeup_coach.scheduler import (
    AlarmOptions,
    AlarmState,
    PendingCall,
    SleeperAlarm,
)
from custom_components.wakeup_coach.sleeper import Sleeper

BERLIN = "Europe/Berlin"
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = (*WORKDAYS, "sat", "sun")
OPTIONS = AlarmOptions(
    redial_delay=timedelta(minutes=2),
    redial_attempts=2,
    catch_up=timedelta(minutes=10),
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Host:
    """Records what the alarm asks of the entry."""

    hass: HomeAssistant
    calls: list[CallTrigger] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    current: str | None = None
    hang_ups: int = 0
    refuse: bool = False

    async def async_place_call(
        self, sleeper: Sleeper, *, trigger: CallTrigger
    ) -> CallSession:
        self.calls.append(trigger)
        if self.refuse:
            raise HomeAssistantError("Twilio refused")
        return CallSession(
            sleeper=sleeper.config,
            mode=CallMode.TRADITIONAL,
            created_at=dt_util.utcnow(),
            public_base="https://ha.example",
            trigger=trigger,
        )

    async def async_hang_up(self, sleeper: Sleeper) -> None:
        self.hang_ups += 1

    def emit(self, sleeper: Sleeper, event_type: str, **data: Any) -> None:
        self.events.append((event_type, data))

    def current_call_id(self, sleeper: Sleeper) -> str | None:
        return self.current

    def spawn(self, coro: Any, name: str) -> Any:
        return self.hass.async_create_task(coro)

    def kinds(self) -> list[str]:
        return [event for event, _ in self.events]


@dataclass
class Clock:
    """A sleeper's alarm, its host, and the frozen clock that drives it."""

    hass: HomeAssistant
    freezer: FrozenDateTimeFactory
    host: Host
    sleeper: Sleeper
    alarm: SleeperAlarm
    saved: list[dict[str, Any]]
    stop: Callable[[], None] | None = None

    def start(self) -> None:
        self.stop = self.alarm.async_start()

    async def at(self, when: datetime) -> None:
        """Move the clock to `when` and let Home Assistant's timers run."""
        self.freezer.move_to(when)
        async_fire_time_changed(self.hass, when)
        await self.hass.async_block_till_done()

    def finished(self, trigger: CallTrigger, result: CallResult) -> None:
        """A call the alarm placed has ended."""
        session = CallSession(
            sleeper=self.sleeper.config,
            mode=CallMode.TRADITIONAL,
            created_at=dt_util.utcnow(),
            public_base="https://ha.example",
            trigger=trigger,
        )
        session.end(result, dt_util.utcnow())
        self.alarm.call_finished(session)


@pytest.fixture
async def make_clock(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[Callable[..., Clock]]:
    """Build an alarm for a sleeper in Berlin, at a frozen time."""
    await hass.config.async_set_time_zone(BERLIN)
    clocks: list[Clock] = []

    def make(
        now: str,
        *,
        alarm_time: time = time(6, 30),
        weekdays: tuple[str, ...] = WORKDAYS,
        only_when: str | None = None,
        state: AlarmState | None = None,
        enabled: bool = True,
    ) -> Clock:
        freezer.move_to(utc(now))
        sleeper = Sleeper(
            SleeperConfig(
                subentry_id="s1",
                name="Alice",
                phone_number="+15550100111",
                weekdays=weekdays,
                only_when=only_when,
            ),
            SleeperSettings(alarm_time=alarm_time, alarm_enabled=enabled),
            save=lambda settings: None,
        )
        host = Host(hass)
        saved: list[dict[str, Any]] = []
        alarm = SleeperAlarm(
            hass,
            sleeper,
            state or AlarmState(),
            host=host,
            options=OPTIONS,
            save=lambda: saved.append(alarm.state.as_dict()),
        )
        clock = Clock(hass, freezer, host, sleeper, alarm, saved)
        clocks.append(clock)
        return clock

    yield make
    for clock in clocks:
        if clock.stop is not None:
            clock.stop()


async def test_workdays_only(make_clock: Callable[..., Clock]) -> None:
    """After Friday's alarm the next one is Monday's, at 06:30 Berlin time."""
    clock = make_clock("2026-12-04T05:31:00")  # Friday 06:31 in Berlin
    clock.start()
    assert clock.sleeper.next_alarm() == utc("2026-12-07T05:30:00")
    assert clock.sleeper.next_alarm_kind == "alarm"


async def test_rings_on_time_to_the_second(make_clock: Callable[..., Clock]) -> None:
    """Nothing at 06:29:59; the call at 06:30:00; then the next workday."""
    clock = make_clock("2026-12-01T05:00:00")  # Tuesday
    clock.start()
    await clock.at(utc("2026-12-01T05:29:59"))
    assert clock.host.calls == []
    await clock.at(utc("2026-12-01T05:30:00"))
    assert clock.host.calls == [
        CallTrigger(
            kind=TriggerKind.ALARM,
            attempt=1,
            scheduled_for=utc("2026-12-01T05:30:00"),
            alarm_date=date(2026, 12, 1),
        )
    ]
    assert clock.host.kinds() == ["alarm"]
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


async def test_spring_forward(
    make_clock: Callable[..., Clock], caplog: pytest.LogCaptureFixture
) -> None:
    """02:30 does not exist on 2027-03-28 in Berlin: the alarm rings once, at 03:00."""
    clock = make_clock(
        "2027-03-27T12:00:00", alarm_time=time(2, 30), weekdays=EVERY_DAY
    )
    clock.start()
    assert clock.sleeper.next_alarm() == utc("2027-03-28T01:00:00")  # 03:00 CEST
    await clock.at(utc("2027-03-28T01:00:00"))
    assert len(clock.host.calls) == 1
    assert "does not exist today" in caplog.text
    await clock.at(utc("2027-03-28T02:00:00"))
    assert len(clock.host.calls) == 1
    assert clock.sleeper.next_alarm() == utc("2027-03-29T00:30:00")


async def test_fall_back(make_clock: Callable[..., Clock]) -> None:
    """02:30 happens twice on 2026-10-25 in Berlin: the alarm rings at the first only."""
    clock = make_clock(
        "2026-10-24T12:00:00", alarm_time=time(2, 30), weekdays=EVERY_DAY
    )
    clock.start()
    await clock.at(utc("2026-10-25T00:30:00"))  # 02:30 CEST
    await clock.at(utc("2026-10-25T01:30:00"))  # 02:30 CET, the second time
    assert len(clock.host.calls) == 1
    assert clock.sleeper.next_alarm() == utc("2026-10-26T01:30:00")


async def test_skip_next_and_undo(make_clock: Callable[..., Clock]) -> None:
    """Skip moves the next alarm a workday on; undo brings it back; only one day is skipped."""
    clock = make_clock("2026-12-01T05:00:00")
    clock.start()
    assert clock.alarm.skip_next() == date(2026, 12, 1)
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")
    assert clock.host.events[-1] == (
        "skipped",
        {
            "alarm_date": "2026-12-01",
            "scheduled": "2026-12-01T05:30:00+00:00",
            "reason": "user",
            "attempt": 0,
        },
    )
    clock.alarm.undo_skip()
    assert clock.sleeper.next_alarm() == utc("2026-12-01T05:30:00")
    clock.alarm.skip_next()
    await clock.at(utc("2026-12-01T05:30:00"))
    assert clock.host.calls == []
    await clock.at(utc("2026-12-02T05:30:00"))
    assert [call.alarm_date for call in clock.host.calls] == [date(2026, 12, 2)]


async def test_alarm_switch_off_and_on_undoes_the_skip(
    make_clock: Callable[..., Clock],
) -> None:
    """Off: nothing is scheduled. On again: the skipped alarm is back."""
    clock = make_clock("2026-12-01T05:00:00")
    clock.start()
    clock.alarm.skip_next()
    clock.sleeper.update_settings(alarm_enabled=False)
    assert clock.sleeper.next_alarm() is None
    clock.sleeper.update_settings(alarm_enabled=True)
    assert clock.sleeper.next_alarm() == utc("2026-12-01T05:30:00")


async def test_moving_the_alarm(make_clock: Callable[..., Clock]) -> None:
    """A new alarm time reschedules at once; after today's alarm rang, not again today."""
    clock = make_clock("2026-12-01T05:00:00")
    clock.start()
    clock.sleeper.update_settings(alarm_time=time(7, 0))
    assert clock.sleeper.next_alarm() == utc("2026-12-01T06:00:00")
    await clock.at(utc("2026-12-01T06:00:00"))
    clock.sleeper.update_settings(alarm_time=time(8, 0))
    assert clock.sleeper.next_alarm() == utc("2026-12-02T07:00:00")
    await clock.at(utc("2026-12-01T07:00:00"))
    assert len(clock.host.calls) == 1


@pytest.mark.parametrize(
    ("entity_id", "state", "rings"),
    [
        ("binary_sensor.workday", "on", True),
        ("binary_sensor.workday", "off", False),
        # Unknown is not "no": a missed wake-up is worse than an extra call.
        ("binary_sensor.workday", "unavailable", True),
        ("calendar.work_shifts", "on", True),
        ("calendar.work_shifts", "off", False),
    ],
)
async def test_only_when(
    hass: HomeAssistant,
    make_clock: Callable[..., Clock],
    entity_id: str,
    state: str,
    rings: bool,
) -> None:
    """The alarm rings only while the only-when entity is on (or when it cannot tell)."""
    clock = make_clock("2026-12-01T05:00:00", only_when=entity_id)
    clock.start()
    hass.states.async_set(entity_id, state)
    await clock.at(utc("2026-12-01T05:30:00"))
    assert len(clock.host.calls) == (1 if rings else 0)
    if not rings:
        assert clock.host.events == [
            (
                "skipped",
                {
                    "alarm_date": "2026-12-01",
                    "scheduled": "2026-12-01T05:30:00+00:00",
                    "reason": "only_when",
                    "attempt": 0,
                },
            )
        ]
    # Either way, the next alarm is tomorrow's.
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


def _waiting(fires_at: str) -> AlarmState:
    """What was stored while the alarm of 2026-12-01 06:30 was awaited."""
    return AlarmState(
        waiting_for=AlarmOccurrence(
            alarm_date=date(2026, 12, 1), fires_at=utc(fires_at), shifted=False
        )
    )


async def test_restart_before_alarm_time(make_clock: Callable[..., Clock]) -> None:
    """Back before the alarm: it rings on time, once."""
    clock = make_clock("2026-12-01T05:20:00", state=_waiting("2026-12-01T05:30:00"))
    clock.start()
    assert clock.host.calls == []
    await clock.at(utc("2026-12-01T05:30:00"))
    assert [call.kind for call in clock.host.calls] == [TriggerKind.ALARM]


async def test_restart_inside_the_grace_window(
    make_clock: Callable[..., Clock],
) -> None:
    """Down at alarm time, back 5 minutes later: the call is placed late, and said so."""
    clock = make_clock("2026-12-01T05:35:00", state=_waiting("2026-12-01T05:30:00"))
    clock.start()
    await clock.hass.async_block_till_done()
    assert [call.kind for call in clock.host.calls] == [TriggerKind.CATCH_UP]
    assert clock.host.events == [
        (
            "missed_catch_up",
            {
                "scheduled": "2026-12-01T05:30:00+00:00",
                "attempt": 1,
                "late_seconds": 300,
            },
        )
    ]
    # Handled: a second restart does not ring it again.
    again = make_clock("2026-12-01T05:36:00", state=clock.alarm.state)
    again.start()
    await again.hass.async_block_till_done()
    assert again.host.calls == []


async def test_restart_after_the_grace_window(
    make_clock: Callable[..., Clock],
) -> None:
    """Back two hours late: nothing rings; the alarm is reported missed."""
    clock = make_clock("2026-12-01T07:30:00", state=_waiting("2026-12-01T05:30:00"))
    clock.start()
    await clock.hass.async_block_till_done()
    assert clock.host.calls == []
    assert clock.host.events == [
        (
            "missed",
            {
                "scheduled": "2026-12-01T05:30:00+00:00",
                "attempt": 0,
                "reason": "home_assistant_down",
            },
        )
    ]
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


async def test_redial_ladder_then_missed(make_clock: Callable[..., Clock]) -> None:
    """Not up: call again after the redial delay, as often as allowed; then missed."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    first = clock.host.calls[-1]
    clock.finished(first, CallResult.NO_ANSWER)
    assert clock.host.events[-1] == (
        "redial_scheduled",
        {
            "scheduled": "2026-12-01T05:32:00+00:00",
            "attempt": 2,
            "previous_result": "no_answer",
        },
    )
    assert clock.sleeper.next_alarm() == utc("2026-12-01T05:32:00")
    assert clock.sleeper.next_alarm_kind == "redial"
    await clock.at(utc("2026-12-01T05:32:00"))
    second = clock.host.calls[-1]
    assert (second.kind, second.attempt) == (TriggerKind.REDIAL, 2)
    clock.finished(second, CallResult.VOICEMAIL)
    await clock.at(utc("2026-12-01T05:34:00"))
    third = clock.host.calls[-1]
    assert third.attempt == 3
    clock.finished(third, CallResult.NOT_AWAKE)
    assert clock.host.kinds()[-1] == "missed"
    assert clock.host.events[-1][1] == {
        "attempt": 3,
        "alarm_date": "2026-12-01",
        "reason": "not_awake",
    }
    assert len(clock.host.calls) == 3
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


async def test_awake_ends_the_ladder(make_clock: Callable[..., Clock]) -> None:
    """Up on the first call: no redial."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    clock.finished(clock.host.calls[-1], CallResult.AWAKE)
    assert clock.host.kinds() == ["alarm"]
    assert clock.alarm.state.ladder is None
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


async def test_a_call_that_could_not_be_placed_is_redialled(
    make_clock: Callable[..., Clock],
) -> None:
    """Twilio refuses the alarm call: it counts as a failed attempt, and is tried again."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    clock.host.refuse = True
    await clock.at(utc("2026-12-01T05:30:00"))
    assert clock.host.kinds() == ["alarm", "redial_scheduled"]
    assert clock.host.events[-1][1]["previous_result"] == "failed"


@pytest.mark.parametrize(
    "stop",
    ["manual call", "hang up", "confirm awake", "skip next", "alarm off"],
)
async def test_pending_redial_is_stopped(
    make_clock: Callable[..., Clock], stop: str
) -> None:
    """A manual call, a hang-up, confirm_awake, skip or the alarm off: no redial rings."""
    clock = make_clock("2026-12-01T05:29:00", weekdays=EVERY_DAY)
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    clock.finished(clock.host.calls[-1], CallResult.NO_ANSWER)
    assert clock.sleeper.next_alarm_kind == "redial"
    if stop == "alarm off":
        clock.sleeper.update_settings(alarm_enabled=False)
    elif stop == "skip next":
        clock.alarm.skip_next()
    else:
        clock.alarm.stop_ladder(stop)
    await clock.at(utc("2026-12-01T05:40:00"))
    assert len(clock.host.calls) == 1
    assert clock.alarm.state.pending == []
    assert clock.sleeper.next_alarm_kind in (None, "alarm")


async def test_snooze_during_a_call(make_clock: Callable[..., Clock]) -> None:
    """Snooze hangs the call up and calls again in N minutes; the hung-up call is not redialled."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    first = clock.host.calls[-1]
    clock.host.current = "call-1"
    at = await clock.alarm.async_snooze(9)
    assert at == utc("2026-12-01T05:39:00")
    assert clock.host.hang_ups == 1
    clock.host.current = None
    clock.alarm.call_finished(_ended(clock, first, CallResult.NOT_AWAKE, "call-1"))
    assert clock.host.kinds() == ["alarm", "snoozed"]
    await clock.at(utc("2026-12-01T05:39:00"))
    snoozed = clock.host.calls[-1]
    assert (snoozed.kind, snoozed.attempt) == (TriggerKind.SNOOZE, 2)
    # Still the same alarm: not up after the snooze either, and it is redialled.
    clock.finished(snoozed, CallResult.NOT_AWAKE)
    assert clock.host.kinds()[-1] == "redial_scheduled"


async def test_snooze_after_a_call(make_clock: Callable[..., Clock]) -> None:
    """A call that just ended can be snoozed too; it replaces the pending redial."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    clock.finished(clock.host.calls[-1], CallResult.NOT_AWAKE)
    await clock.alarm.async_snooze(5)
    assert [p.kind for p in clock.alarm.state.pending] == [TriggerKind.SNOOZE]
    await clock.at(utc("2026-12-01T05:35:00"))
    assert [c.kind for c in clock.host.calls] == [TriggerKind.ALARM, TriggerKind.SNOOZE]


async def test_one_off_call_survives_a_restart(
    make_clock: Callable[..., Clock],
) -> None:
    """'Call me in 30 minutes' is stored; after a restart it still rings, on time."""
    clock = make_clock("2026-12-05T10:00:00")  # a Saturday: no alarm
    clock.start()
    assert clock.alarm.call_in(30) == utc("2026-12-05T10:30:00")
    assert clock.saved[-1]["pending"] == [
        PendingCall(kind=TriggerKind.ONE_OFF, at=utc("2026-12-05T10:30:00")).as_dict()
    ]
    clock.stop()  # type: ignore[misc]
    clock.stop = None
    restarted = make_clock(
        "2026-12-05T10:10:00", state=AlarmState.from_dict(clock.saved[-1])
    )
    restarted.start()
    assert restarted.sleeper.next_alarm() == utc("2026-12-05T10:30:00")
    await restarted.at(utc("2026-12-05T10:30:00"))
    assert [c.kind for c in restarted.host.calls] == [TriggerKind.ONE_OFF]


async def test_alarm_adopts_a_call_in_progress(
    make_clock: Callable[..., Clock],
) -> None:
    """A call under way at alarm time (a button pressed that second): no second call."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    clock.host.current = "manual-call"
    await clock.at(utc("2026-12-01T05:30:00"))
    assert clock.host.calls == []
    assert clock.host.kinds() == ["alarm"]
    # The adopted call is redialled like the alarm's own when it ends not awake.
    manual = CallTrigger()
    clock.host.current = None
    clock.alarm.call_finished(
        _ended(clock, manual, CallResult.NO_ANSWER, "manual-call")
    )
    assert clock.host.kinds()[-1] == "redial_scheduled"


def _ended(
    clock: Clock, trigger: CallTrigger, result: CallResult, call_id: str
) -> CallSession:
    session = CallSession(
        sleeper=clock.sleeper.config,
        mode=CallMode.TRADITIONAL,
        created_at=dt_util.utcnow(),
        public_base="https://ha.example",
        trigger=trigger,
        call_id=call_id,
    )
    session.end(result, dt_util.utcnow())
    return session


def test_damaged_state_is_reset(caplog: pytest.LogCaptureFixture) -> None:
    """Unreadable stored state is dropped with an error line, not a failed setup."""
    assert AlarmState.from_dict({"skip": ["not a date"]}) == AlarmState()
    assert "damaged" in caplog.text


async def test_snooze_of_a_call_placed_by_hand(
    make_clock: Callable[..., Clock],
) -> None:
    """Not only alarm calls: a call placed by hand snoozed rings again in N minutes."""
    clock = make_clock("2026-12-05T10:00:00")  # a Saturday: no alarm today
    clock.start()
    clock.host.current = "manual-call"
    at = await clock.alarm.async_snooze(5)
    assert at == utc("2026-12-05T10:05:00")
    assert clock.host.hang_ups == 1
    clock.host.current = None
    clock.alarm.call_finished(
        _ended(clock, CallTrigger(), CallResult.NOT_AWAKE, "manual-call")
    )
    assert clock.sleeper.next_alarm() == at
    assert clock.sleeper.next_alarm_kind == "snooze"
    await clock.at(at)
    assert [(c.kind, c.attempt) for c in clock.host.calls] == [(TriggerKind.SNOOZE, 1)]


def _stopped(clock: Clock) -> dict[str, Any]:
    """Home Assistant stops: what the alarm stored last."""
    assert clock.stop is not None
    clock.stop()
    clock.stop = None
    return clock.saved[-1]


async def _redial_pending(make_clock: Callable[..., Clock]) -> dict[str, Any]:
    """The alarm rang, nobody answered, a redial is due at 05:32; then HA stopped."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    clock.finished(clock.host.calls[-1], CallResult.NO_ANSWER)
    assert clock.sleeper.next_alarm() == utc("2026-12-01T05:32:00")
    return _stopped(clock)


async def test_restart_with_a_redial_due(make_clock: Callable[..., Clock]) -> None:
    """Down when a redial was due, back 5 minutes later: it is placed late, the ladder goes on."""
    stored = await _redial_pending(make_clock)
    clock = make_clock("2026-12-01T05:37:00", state=AlarmState.from_dict(stored))
    clock.start()
    await clock.hass.async_block_till_done()
    assert [(c.kind, c.attempt) for c in clock.host.calls] == [(TriggerKind.REDIAL, 2)]
    assert clock.host.events == [
        (
            "missed_catch_up",
            {"scheduled": "2026-12-01T05:32:00+00:00", "attempt": 2, "kind": "redial"},
        )
    ]
    # The stored ladder counts on: not up after this call either, a third one follows.
    clock.finished(clock.host.calls[-1], CallResult.NOT_AWAKE)
    assert clock.host.events[-1] == (
        "redial_scheduled",
        {
            "scheduled": "2026-12-01T05:39:00+00:00",
            "attempt": 3,
            "previous_result": "not_awake",
        },
    )
    # The alarm itself was handled before the restart: it does not ring again today.
    assert [c.kind for c in clock.host.calls].count(TriggerKind.ALARM) == 0


async def test_restart_long_after_a_redial_was_due(
    make_clock: Callable[..., Clock],
) -> None:
    """Back two hours after a redial was due: no call, the alarm is reported missed."""
    stored = await _redial_pending(make_clock)
    clock = make_clock("2026-12-01T07:32:00", state=AlarmState.from_dict(stored))
    clock.start()
    await clock.hass.async_block_till_done()
    assert clock.host.calls == []
    assert clock.host.events == [
        (
            "missed",
            {
                "attempt": 1,
                "alarm_date": "2026-12-01",
                "reason": "home_assistant_down",
            },
        )
    ]
    assert clock.alarm.state.ladder is None
    assert clock.sleeper.next_alarm() == utc("2026-12-02T05:30:00")


async def test_a_due_call_is_not_placed_over_another(
    make_clock: Callable[..., Clock],
) -> None:
    """A one-off call falls due while the sleeper is on another call: no second call."""
    clock = make_clock("2026-12-05T10:00:00")  # a Saturday: no alarm
    clock.start()
    clock.alarm.call_in(30)
    clock.host.current = "manual-call"
    await clock.at(utc("2026-12-05T10:30:00"))
    assert clock.host.calls == []
    assert clock.alarm.state.pending == []
    assert clock.sleeper.next_alarm() == utc("2026-12-07T05:30:00")  # Monday's alarm
    assert clock.sleeper.next_alarm_kind == "alarm"


async def test_a_call_that_is_not_the_alarms_is_no_attempt(
    make_clock: Callable[..., Clock],
) -> None:
    """A one-off call that ends while the alarm's ladder runs neither redials nor settles it."""
    clock = make_clock("2026-12-01T05:29:00")
    clock.start()
    await clock.at(utc("2026-12-01T05:30:00"))
    alarm_call = clock.host.calls[-1]
    clock.alarm.call_finished(
        _ended(clock, CallTrigger(kind=TriggerKind.ONE_OFF), CallResult.AWAKE, "x")
    )
    assert clock.host.kinds() == ["alarm"]
    assert clock.alarm.state.ladder is not None
    clock.finished(alarm_call, CallResult.NO_ANSWER)
    assert clock.host.kinds() == ["alarm", "redial_scheduled"]


async def test_undo_with_nothing_skipped(make_clock: Callable[..., Clock]) -> None:
    """Undo when nothing is skipped changes nothing, and stores nothing."""
    clock = make_clock("2026-12-01T05:00:00")
    clock.start()
    saves = len(clock.saved)
    clock.alarm.undo_skip()
    assert len(clock.saved) == saves
    assert clock.sleeper.next_alarm() == utc("2026-12-01T05:30:00")


async def test_restart_long_after_a_one_off_call(
    make_clock: Callable[..., Clock],
) -> None:
    """Back two hours after a one-off call was due: it is not placed that late."""
    clock = make_clock("2026-12-05T10:00:00")  # a Saturday: no alarm
    clock.start()
    clock.alarm.call_in(30)
    stored = _stopped(clock)
    restarted = make_clock("2026-12-05T12:30:00", state=AlarmState.from_dict(stored))
    restarted.start()
    await restarted.hass.async_block_till_done()
    assert restarted.host.calls == []
    assert restarted.host.events == []
    assert restarted.alarm.state.pending == []
