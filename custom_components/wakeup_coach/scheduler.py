"""The alarm clock of each sleeper: when to call, and what happens after a call.

Per sleeper it keeps, persisted so that restarts change nothing:
- the alarm: the next occurrence of the alarm time on an alarm day (alarm_clock),
  skipped dates ("skip next"), and the last alarm date handled, so that no alarm
  ever fires twice;
- calls waiting to be placed: a redial, a snooze, a one-off "call me in N
  minutes";
- the redial ladder of the alarm under way: after a call that did not end with
  the sleeper verifiably up, call again after the redial delay, up to the
  configured number of redials; then the alarm is missed.

One Home Assistant timer per sleeper points at the earliest of these (no
polling). If Home Assistant was down when something was due, it still happens
within the catch-up window after the restart (late, and said so); past the
window it is reported missed and nothing rings hours late.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .alarm_clock import AlarmOccurrence, next_occurrence
from .call_session import CallSession
from .const import DOMAIN, LOGGER
from .models import CallResult, CallTrigger, TriggerKind
from .sleeper import Sleeper

# A call that ended this recently can still be snoozed.
SNOOZE_WINDOW = timedelta(minutes=10)
MAX_SNOOZE_MINUTES = 60
# Kinds of calls that belong to an alarm and are redialled when not answered.
LADDER_KINDS = {
    TriggerKind.ALARM,
    TriggerKind.CATCH_UP,
    TriggerKind.REDIAL,
    TriggerKind.SNOOZE,
}


@dataclass(frozen=True, kw_only=True)
class PendingCall:
    """A call waiting to be placed."""

    kind: TriggerKind  # redial, snooze or one_off
    at: datetime
    attempt: int = 1
    alarm_date: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for storage."""
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "attempt": self.attempt,
            "alarm_date": self.alarm_date.isoformat() if self.alarm_date else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingCall:
        """Restore from storage."""
        alarm_date = data.get("alarm_date")
        return cls(
            kind=TriggerKind(data["kind"]),
            at=datetime.fromisoformat(data["at"]),
            attempt=int(data.get("attempt", 1)),
            alarm_date=date.fromisoformat(alarm_date) if alarm_date else None,
        )


@dataclass(kw_only=True)
class Ladder:
    """The calls of one alarm until the sleeper is up, or the alarm is missed."""

    alarm_date: date
    attempt: int = 1  # the number of the last call placed for this alarm
    redials: int = 0  # redials used so far
    # A call in progress when the alarm fired: the alarm adopts it.
    adopted_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for storage."""
        return {
            "alarm_date": self.alarm_date.isoformat(),
            "attempt": self.attempt,
            "redials": self.redials,
        }


@dataclass(kw_only=True)
class AlarmState:
    """What survives a restart, per sleeper."""

    skip: set[date] = field(default_factory=set)
    last_alarm_date: date | None = None
    # The alarm the timer points at: if Home Assistant is down when it is due,
    # the restart knows it was missed.
    waiting_for: AlarmOccurrence | None = None
    pending: list[PendingCall] = field(default_factory=list)
    ladder: Ladder | None = None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for storage."""
        waiting = self.waiting_for
        return {
            "skip": sorted(day.isoformat() for day in self.skip),
            "last_alarm_date": (
                self.last_alarm_date.isoformat() if self.last_alarm_date else None
            ),
            "waiting_for": (
                {
                    "alarm_date": waiting.alarm_date.isoformat(),
                    "fires_at": waiting.fires_at.isoformat(),
                    "shifted": waiting.shifted,
                }
                if waiting
                else None
            ),
            "pending": [call.as_dict() for call in self.pending],
            "ladder": self.ladder.as_dict() if self.ladder else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlarmState:
        """Restore from storage; anything unreadable is dropped with a log line."""
        state = cls()
        try:
            state.skip = {date.fromisoformat(day) for day in data.get("skip", [])}
            if last := data.get("last_alarm_date"):
                state.last_alarm_date = date.fromisoformat(last)
            if waiting := data.get("waiting_for"):
                state.waiting_for = AlarmOccurrence(
                    alarm_date=date.fromisoformat(waiting["alarm_date"]),
                    fires_at=datetime.fromisoformat(waiting["fires_at"]),
                    shifted=bool(waiting.get("shifted")),
                )
            state.pending = [PendingCall.from_dict(p) for p in data.get("pending", [])]
            if ladder := data.get("ladder"):
                state.ladder = Ladder(
                    alarm_date=date.fromisoformat(ladder["alarm_date"]),
                    attempt=int(ladder.get("attempt", 1)),
                    redials=int(ladder.get("redials", 0)),
                )
        except (KeyError, TypeError, ValueError) as err:
            LOGGER.error("The stored alarm state is damaged and was reset: %s", err)
            return cls()
        return state


@dataclass(frozen=True, kw_only=True)
class AlarmOptions:
    """The entry's options that shape the alarm."""

    redial_delay: timedelta
    redial_attempts: int
    catch_up: timedelta


class AlarmHost(Protocol):
    """What the alarm needs from the entry."""

    async def async_place_call(
        self, sleeper: Sleeper, *, trigger: CallTrigger
    ) -> CallSession:
        """Place a call (automatic mode)."""

    async def async_hang_up(self, sleeper: Sleeper) -> None:
        """End the sleeper's call in progress."""

    def emit(self, sleeper: Sleeper, event_type: str, **data: Any) -> None:
        """An event on the bus and on the sleeper's event entity."""

    def current_call_id(self, sleeper: Sleeper) -> str | None:
        """The sleeper's call in progress, if any."""

    def spawn(self, coro: Any, name: str) -> Any:
        """Run a task owned by the entry."""


class SleeperAlarm:
    """The alarm clock of one sleeper."""

    def __init__(
        self,
        hass: HomeAssistant,
        sleeper: Sleeper,
        state: AlarmState,
        *,
        host: AlarmHost,
        options: AlarmOptions,
        save: Callable[[], None],
    ) -> None:
        """Nothing is scheduled until `async_start`."""
        self.hass = hass
        self.sleeper = sleeper
        self.state = state
        self.host = host
        self.options = options
        self._save = save
        self._unsub_timer: Callable[[], None] | None = None
        self._seen = (sleeper.settings.alarm_time, sleeper.settings.alarm_enabled)
        # The call a snooze hung up: it is not redialled, the snooze calls instead.
        self._snoozed_call_id: str | None = None
        self._last_call_ended: datetime | None = None

    # --- lifecycle ----------------------------------------------------------------

    @callback
    def async_start(self) -> Callable[[], None]:
        """Catch up on what was due while Home Assistant was down, then schedule."""
        now = dt_util.utcnow()
        self._catch_up(now)
        self._reschedule(now)
        remove_listener = self.sleeper.add_listener(self._settings_changed)

        def stop() -> None:
            remove_listener()
            self._cancel_timer()

        return stop

    def _catch_up(self, now: datetime) -> None:
        state = self.state
        waiting = state.waiting_for
        if (
            waiting is not None
            and waiting.fires_at <= now
            and not self._handled(waiting)
        ):
            late = now - waiting.fires_at
            if late <= self.options.catch_up:
                LOGGER.warning(
                    "Home Assistant was not running at %s's alarm time; calling %s late",
                    self.sleeper.config.name,
                    _minutes(late),
                )
                self._ring(waiting, now, late=True)
            else:
                state.last_alarm_date = waiting.alarm_date
                self._emit(
                    "missed",
                    scheduled=waiting.fires_at.isoformat(),
                    attempt=0,
                    reason="home_assistant_down",
                )
        for pending in [p for p in state.pending if p.at <= now]:
            state.pending.remove(pending)
            if now - pending.at <= self.options.catch_up:
                self._place(pending, now, late=True)
            elif pending.kind is TriggerKind.REDIAL and state.ladder is not None:
                self._missed(reason="home_assistant_down")

    # --- what to call next --------------------------------------------------------

    def _handled(self, occurrence: AlarmOccurrence) -> bool:
        last = self.state.last_alarm_date
        return last is not None and occurrence.alarm_date <= last

    def next_alarm(self, after: datetime) -> AlarmOccurrence | None:
        """The next occurrence of the alarm that will ring (skips and handled dates left out)."""
        settings = self.sleeper.settings
        if not settings.alarm_enabled:
            return None
        occurrence = next_occurrence(
            after,
            alarm_time=settings.alarm_time,
            weekdays=self.sleeper.config.weekday_numbers,
            tz=dt_util.get_default_time_zone(),
            skip=self.state.skip,
        )
        # An alarm date already handled (the alarm moved later after it rang) rings no more.
        while occurrence is not None and self._handled(occurrence):
            occurrence = next_occurrence(
                occurrence.fires_at,
                alarm_time=settings.alarm_time,
                weekdays=self.sleeper.config.weekday_numbers,
                tz=dt_util.get_default_time_zone(),
                skip=self.state.skip,
            )
        return occurrence

    def _reschedule(self, now: datetime) -> None:
        self._cancel_timer()
        state = self.state
        # Skips in the past are done with.
        today = dt_util.as_local(now).date()
        state.skip = {day for day in state.skip if day >= today}
        state.waiting_for = self.next_alarm(now)
        due: list[tuple[datetime, str, int]] = [
            (call.at, call.kind, call.attempt) for call in state.pending
        ]
        if state.waiting_for is not None:
            due.append((state.waiting_for.fires_at, TriggerKind.ALARM, 1))
        if due:
            at, kind, attempt = min(due)
            self.sleeper.set_next_alarm(at, kind=str(kind), attempt=attempt)
            self._unsub_timer = async_track_point_in_utc_time(self.hass, self._due, at)
        else:
            self.sleeper.set_next_alarm(None)
        self._save()

    def _cancel_timer(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None

    @callback
    def _due(self, when: datetime) -> None:
        """The timer fired: ring whatever is due."""
        self._unsub_timer = None
        now = max(when, dt_util.utcnow())
        state = self.state
        waiting = state.waiting_for
        if (
            waiting is not None
            and waiting.fires_at <= now
            and not self._handled(waiting)
        ):
            self._ring(waiting, now, late=False)
        for pending in [p for p in state.pending if p.at <= now]:
            state.pending.remove(pending)
            self._place(pending, now, late=False)
        self._reschedule(now)

    # --- ringing ------------------------------------------------------------------

    def _ring(self, occurrence: AlarmOccurrence, now: datetime, *, late: bool) -> None:
        """The alarm of `occurrence` is due: call, unless the only-when entity says no."""
        state = self.state
        state.last_alarm_date = occurrence.alarm_date
        scheduled = occurrence.fires_at.isoformat()
        if occurrence.shifted:
            LOGGER.info(
                "%s's alarm time does not exist today (daylight saving time starts); "
                "it rings at %s",
                self.sleeper.config.name,
                dt_util.as_local(occurrence.fires_at).strftime("%H:%M"),
            )
        if entity_id := self.sleeper.config.only_when:
            only_when = self.hass.states.get(entity_id)
            if only_when is not None and only_when.state == STATE_OFF:
                LOGGER.info(
                    "%s's alarm is skipped: %s is off",
                    self.sleeper.config.name,
                    entity_id,
                )
                self._emit(
                    "skipped",
                    alarm_date=occurrence.alarm_date.isoformat(),
                    scheduled=scheduled,
                    reason="only_when",
                    attempt=0,
                )
                return
            if only_when is None or only_when.state != "on":
                # Unknown is not "no": a missed wake-up is worse than an extra call.
                LOGGER.warning(
                    "%s's alarm rings although %s is %s",
                    self.sleeper.config.name,
                    entity_id,
                    only_when.state if only_when else "missing",
                )
        self._cancel_ladder_calls()
        state.ladder = Ladder(alarm_date=occurrence.alarm_date)
        kind = TriggerKind.CATCH_UP if late else TriggerKind.ALARM
        self._emit(
            "missed_catch_up" if late else "alarm",
            scheduled=scheduled,
            attempt=1,
            **(
                {"late_seconds": round((now - occurrence.fires_at).total_seconds())}
                if late
                else {}
            ),
        )
        if (current := self.host.current_call_id(self.sleeper)) is not None:
            # A call is under way (a button pressed at the same second): the alarm
            # adopts it rather than ringing twice.
            state.ladder.adopted_call_id = current
            return
        self._call(
            CallTrigger(
                kind=kind,
                attempt=1,
                scheduled_for=occurrence.fires_at,
                alarm_date=occurrence.alarm_date,
            )
        )

    def _place(self, pending: PendingCall, now: datetime, *, late: bool) -> None:
        """A redial, a snooze or a one-off call is due."""
        ladder = self.state.ladder
        if (
            pending.kind in LADDER_KINDS
            and pending.alarm_date is not None
            and (ladder is None or ladder.alarm_date != pending.alarm_date)
        ):
            return  # its alarm was settled meanwhile (a snooze of no alarm has none)
        if ladder is not None and pending.kind in LADDER_KINDS:
            ladder.attempt = pending.attempt
        if late:
            self._emit(
                "missed_catch_up",
                scheduled=pending.at.isoformat(),
                attempt=pending.attempt,
                kind=str(pending.kind),
            )
        if self.host.current_call_id(self.sleeper) is not None:
            LOGGER.info(
                "%s is on a call already; the %s call is not placed",
                self.sleeper.config.name,
                pending.kind,
            )
            return
        self._call(
            CallTrigger(
                kind=pending.kind,
                attempt=pending.attempt,
                scheduled_for=pending.at,
                alarm_date=pending.alarm_date,
            )
        )

    def _call(self, trigger: CallTrigger) -> None:
        self.host.spawn(self._async_call(trigger), f"{DOMAIN} alarm call")

    async def _async_call(self, trigger: CallTrigger) -> None:
        try:
            await self.host.async_place_call(self.sleeper, trigger=trigger)
        except HomeAssistantError as err:
            # Not placed (Twilio refused, no public URL): a failed attempt like any.
            LOGGER.error(
                "%s's %s call could not be placed: %s",
                self.sleeper.config.name,
                trigger.kind,
                err,
            )
            self._after_call(trigger, None, CallResult.FAILED)

    # --- after a call -------------------------------------------------------------

    @callback
    def call_finished(self, session: CallSession) -> None:
        """A call of this sleeper ended: redial, or settle the alarm."""
        self._last_call_ended = session.ended_at or dt_util.utcnow()
        if session.call_id == self._snoozed_call_id:
            self._snoozed_call_id = None
            return
        assert session.result is not None  # noqa: S101
        self._after_call(session.trigger, session.call_id, session.result)

    def _after_call(
        self, trigger: CallTrigger, call_id: str | None, result: CallResult
    ) -> None:
        ladder = self.state.ladder
        if ladder is None:
            return
        belongs = (
            trigger.kind in LADDER_KINDS and trigger.alarm_date == ladder.alarm_date
        ) or (call_id is not None and call_id == ladder.adopted_call_id)
        if not belongs:
            return
        if result is CallResult.AWAKE:
            LOGGER.info("%s is up: the alarm is done", self.sleeper.config.name)
            self.state.ladder = None
            self._save()
            return
        now = dt_util.utcnow()
        if ladder.redials >= self.options.redial_attempts:
            self._missed(reason=str(result))
            self._reschedule(now)
            return
        ladder.redials += 1
        attempt = ladder.attempt + 1
        at = _later(now, self.options.redial_delay)
        self.state.pending.append(
            PendingCall(
                kind=TriggerKind.REDIAL,
                at=at,
                attempt=attempt,
                alarm_date=ladder.alarm_date,
            )
        )
        LOGGER.info(
            "%s is not up yet (%s): calling again at %s (call %s)",
            self.sleeper.config.name,
            result,
            dt_util.as_local(at).strftime("%H:%M:%S"),
            attempt,
        )
        self._emit(
            "redial_scheduled",
            scheduled=at.isoformat(),
            attempt=attempt,
            previous_result=str(result),
        )
        self._reschedule(now)

    def _missed(self, *, reason: str) -> None:
        ladder = self.state.ladder
        if ladder is None:
            return
        self.state.ladder = None
        LOGGER.warning(
            "%s missed the alarm after %s calls",
            self.sleeper.config.name,
            ladder.attempt,
        )
        self._emit(
            "missed",
            attempt=ladder.attempt,
            alarm_date=ladder.alarm_date.isoformat(),
            reason=reason,
        )

    # --- what the sleeper does ----------------------------------------------------

    def _cancel_ladder_calls(self) -> None:
        self.state.pending = [
            p for p in self.state.pending if p.kind not in LADDER_KINDS
        ]

    @callback
    def stop_ladder(self, reason: str) -> None:
        """A manual call, a hang-up, proof, skip or the alarm off: no more redials."""
        if self.state.ladder is None and not any(
            p.kind in LADDER_KINDS for p in self.state.pending
        ):
            return
        LOGGER.info("%s's alarm calls stop: %s", self.sleeper.config.name, reason)
        self.state.ladder = None
        self._cancel_ladder_calls()
        self._reschedule(dt_util.utcnow())

    @callback
    def skip_next(self) -> date:
        """Skip the next alarm only; returns its date."""
        now = dt_util.utcnow()
        occurrence = self.next_alarm(now)
        if occurrence is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_alarm_to_skip",
                translation_placeholders={"sleeper": self.sleeper.config.name},
            )
        self.state.skip.add(occurrence.alarm_date)
        self.stop_ladder("the next alarm is skipped")
        self._emit(
            "skipped",
            alarm_date=occurrence.alarm_date.isoformat(),
            scheduled=occurrence.fires_at.isoformat(),
            reason="user",
            attempt=0,
        )
        self._reschedule(now)
        return occurrence.alarm_date

    @callback
    def undo_skip(self) -> None:
        """The skipped alarms ring again."""
        if self.state.skip:
            LOGGER.info("%s's skipped alarms ring again", self.sleeper.config.name)
            self.state.skip.clear()
            self._reschedule(dt_util.utcnow())

    async def async_snooze(self, minutes: int) -> datetime:
        """End the call in progress (or answer a just-finished one) with a call in N minutes."""
        now = dt_util.utcnow()
        current = self.host.current_call_id(self.sleeper)
        recent = (
            self._last_call_ended is not None
            and now - self._last_call_ended <= SNOOZE_WINDOW
        )
        if current is None and not recent:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="nothing_to_snooze",
                translation_placeholders={"sleeper": self.sleeper.config.name},
            )
        at = _later(now, timedelta(minutes=minutes))
        ladder = self.state.ladder
        self._cancel_ladder_calls()
        self.state.pending.append(
            PendingCall(
                kind=TriggerKind.SNOOZE,
                at=at,
                attempt=ladder.attempt + 1 if ladder else 1,
                alarm_date=ladder.alarm_date if ladder else None,
            )
        )
        self._emit(
            "snoozed",
            minutes=minutes,
            scheduled=at.isoformat(),
            attempt=ladder.attempt if ladder else 1,
        )
        self._reschedule(now)
        if current is not None:
            self._snoozed_call_id = current
            await self.host.async_hang_up(self.sleeper)
        return at

    @callback
    def call_in(self, minutes: int) -> datetime:
        """A one-off call in N minutes, persisted like an alarm."""
        now = dt_util.utcnow()
        at = _later(now, timedelta(minutes=minutes))
        self.state.pending.append(PendingCall(kind=TriggerKind.ONE_OFF, at=at))
        self._reschedule(now)
        return at

    @callback
    def _settings_changed(self) -> None:
        settings = self.sleeper.settings
        seen = (settings.alarm_time, settings.alarm_enabled)
        if seen == self._seen:
            return
        was_enabled = self._seen[1]
        self._seen = seen
        if not settings.alarm_enabled:
            self.stop_ladder("the alarm was turned off")
            self.state.pending = [
                p for p in self.state.pending if p.kind is TriggerKind.ONE_OFF
            ]
        elif not was_enabled:
            # Turning the alarm on undoes "skip next" too.
            self.state.skip.clear()
        self._reschedule(dt_util.utcnow())

    def _emit(self, event_type: str, **data: Any) -> None:
        self.host.emit(self.sleeper, event_type, **data)


def _later(now: datetime, delta: timedelta) -> datetime:
    """`delta` after `now`, on a whole second (as the Next alarm sensor shows it)."""
    at = now + delta
    return at.replace(microsecond=0) + timedelta(seconds=1 if at.microsecond else 0)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.1f} min"
