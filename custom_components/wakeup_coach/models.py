"""Plain data types shared by the call logic and the Home Assistant glue."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Self

from .const import (
    CONF_LANGUAGE,
    CONF_NAME,
    CONF_ONLY_WHEN,
    CONF_PERSONA_NOTES,
    CONF_PHONE_NUMBER,
    CONF_REALTIME_VOICE,
    CONF_VERIFICATION_ENTITIES,
    CONF_VOICE,
    CONF_WEEKDAYS,
    DEFAULT_ALARM_TIME,
    DEFAULT_LANGUAGE,
    DEFAULT_REALTIME_PROBABILITY,
    DEFAULT_REALTIME_VOICE,
    DEFAULT_VOICE,
    WEEKDAYS,
)

MAX_PROBABILITY = 100


class CallMode(StrEnum):
    """How a call talks to the sleeper."""

    AUTO = "auto"
    REALTIME = "realtime"
    TRADITIONAL = "traditional"


class EngineKind(StrEnum):
    """Which OpenAI live-voice protocol a realtime call speaks."""

    REALTIME = "realtime"  # the Realtime API (GA): app-driven turns, tools, truncation
    LIVE = "live"  # GPT-Live: full duplex, the server decides turns


class RealtimeTransport(StrEnum):
    """How a realtime call's audio travels, or (AUTO) how to choose."""

    MEDIA_STREAM = "media_stream"  # a Twilio Media Stream WebSocket into HA
    SIP = "sip"  # Twilio dials OpenAI's SIP address; HA steers over a sideband
    AUTO = "auto"  # SIP once Media Streams are known not to reach HA


def engine_of_model(model: str) -> EngineKind | None:
    """The protocol a model id speaks, or None for a model that is not a live-voice one."""
    if model.startswith("gpt-live"):
        return EngineKind.LIVE
    if "realtime" in model:
        return EngineKind.REALTIME
    return None


class TriggerKind(StrEnum):
    """What placed a call."""

    MANUAL = "manual"  # the call action or the Call now button
    ALARM = "alarm"
    CATCH_UP = "catch_up"  # an alarm Home Assistant was down for, placed late
    REDIAL = "redial"
    SNOOZE = "snooze"
    ONE_OFF = "one_off"  # "call me in N minutes"
    TEST = "test"  # the test_call action: a short live call that reports on itself


@dataclass(frozen=True, kw_only=True)
class CallTrigger:
    """Why a call is placed, and which alarm's calls it belongs to."""

    kind: TriggerKind = TriggerKind.MANUAL
    attempt: int = 1
    scheduled_for: datetime | None = None
    alarm_date: date | None = None  # the alarm whose redial ladder the call is part of


class CallResult(StrEnum):
    """How a wake-up call ended, as the last call result sensor shows it."""

    AWAKE = "awake"
    NOT_AWAKE = "not_awake"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, kw_only=True)
class SleeperConfig:
    """One person to wake, as configured in a sleeper subentry."""

    subentry_id: str
    name: str
    phone_number: str
    language: str = DEFAULT_LANGUAGE
    voice: str = DEFAULT_VOICE
    realtime_voice: str = DEFAULT_REALTIME_VOICE
    weekdays: tuple[str, ...] = WEEKDAYS
    verification_entities: tuple[str, ...] = ()
    persona_notes: str = ""
    # The alarm only rings while this binary sensor or calendar is on (a Workday sensor).
    only_when: str | None = None

    @classmethod
    def from_subentry(cls, subentry_id: str, data: Any) -> Self:
        """Build from a subentry's data mapping."""
        return cls(
            subentry_id=subentry_id,
            name=data[CONF_NAME],
            phone_number=data[CONF_PHONE_NUMBER],
            language=data.get(CONF_LANGUAGE, DEFAULT_LANGUAGE),
            voice=data.get(CONF_VOICE, DEFAULT_VOICE),
            realtime_voice=data.get(CONF_REALTIME_VOICE, DEFAULT_REALTIME_VOICE),
            weekdays=tuple(
                d for d in WEEKDAYS if d in data.get(CONF_WEEKDAYS, WEEKDAYS)
            ),
            verification_entities=tuple(data.get(CONF_VERIFICATION_ENTITIES, ())),
            persona_notes=data.get(CONF_PERSONA_NOTES, ""),
            only_when=data.get(CONF_ONLY_WHEN) or None,
        )

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """The alarm days as date.weekday() numbers (0 is Monday)."""
        return frozenset(WEEKDAYS.index(day) for day in self.weekdays)


@dataclass(kw_only=True)
class SleeperSettings:
    """What a sleeper changes from the dashboard; persisted across restarts."""

    alarm_time: time = DEFAULT_ALARM_TIME
    # Nothing that rings a phone or costs more starts before the user chose it.
    alarm_enabled: bool = False
    realtime_allowed: bool = False
    realtime_probability: float = DEFAULT_REALTIME_PROBABILITY
    last_call_result: CallResult | None = None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for storage."""
        return {
            "alarm_time": self.alarm_time.isoformat(),
            "alarm_enabled": self.alarm_enabled,
            "realtime_allowed": self.realtime_allowed,
            "realtime_probability": self.realtime_probability,
            "last_call_result": self.last_call_result,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Restore from storage, keeping defaults for anything unreadable."""
        settings = cls()
        with suppress(KeyError, TypeError, ValueError):
            settings.alarm_time = time.fromisoformat(data["alarm_time"])
        for key in ("alarm_enabled", "realtime_allowed"):
            if isinstance(value := data.get(key), bool):
                setattr(settings, key, value)
        probability = data.get("realtime_probability")
        if isinstance(probability, int | float) and 0 <= probability <= MAX_PROBABILITY:
            settings.realtime_probability = float(probability)
        with suppress(KeyError, ValueError):
            settings.last_call_result = CallResult(data["last_call_result"])
        return settings
