"""One wake-up call: its state, single-use URL tokens, transcript and record.

Plain Python. The call manager owns sessions; the views, mode handlers and the
realtime bridge update them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
import secrets
from typing import Any

from .models import (
    CallMode,
    CallResult,
    CallTrigger,
    EngineKind,
    RealtimeTransport,
    SleeperConfig,
)

# Twilio's final CallStatus values and how each ends a wake-up call.
FINAL_STATUSES = {
    "busy": CallResult.BUSY,
    "no-answer": CallResult.NO_ANSWER,
    "failed": CallResult.FAILED,
    "canceled": CallResult.CANCELED,
}


def is_machine(answered_by: str | None) -> bool:
    """Whether Twilio's AnsweredBy names a voicemail or fax, not a person."""
    return answered_by is not None and answered_by.startswith(("machine", "fax"))


class CallState(IntEnum):
    """Where the call is; a call only ever moves forward."""

    DIALING = 0
    RINGING = 1
    IN_PROGRESS = 2
    ENDED = 3


class TokenUse(StrEnum):
    """What a single-use URL token is for."""

    VOICE = "voice"  # the answered call's first TwiML
    SPEECH = "speech"  # a <Gather> heard something
    SILENCE = "silence"  # a <Gather> heard nothing
    CONNECT = "connect"  # a realtime call's Media Stream ended (<Connect action>)
    RESUME = "resume"  # a realtime call continues turn-based (REST redirect)
    STREAM = "stream"  # the Media Stream WebSocket
    DIAL = "dial"  # a SIP call's <Dial> leg ended (<Dial action>)
    SIP = "sip"  # the SIP header that names the call to OpenAI (not a URL)


# Tokens that are no TwiML URL: redeeming one leaves the call's TwiML tokens alone.
OUT_OF_BAND = frozenset({TokenUse.STREAM, TokenUse.SIP})


class UnknownTokenError(Exception):
    """A token this call never issued for that use: someone guessing."""


@dataclass(frozen=True)
class TranscriptLine:
    """One thing said on the call."""

    speaker: str  # "coach" or "sleeper"
    text: str
    at: datetime


def _add_usage(total: dict[str, Any], usage: Mapping[str, Any]) -> None:
    """Sum token counts, nested objects included (Realtime's response.done usage)."""
    for key, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, Mapping):
            _add_usage(total.setdefault(key, {}), value)


@dataclass
class CallSession:
    """Everything about one call, from dialling to its result."""

    sleeper: SleeperConfig
    mode: CallMode
    created_at: datetime
    # The public URL the call's endpoints were given to Twilio under: signatures cover it.
    public_base: str
    extra_instructions: str | None = None
    trigger: CallTrigger = field(default_factory=CallTrigger)
    engine: EngineKind | None = None  # realtime calls: which OpenAI protocol
    # Realtime calls: how the audio travels (a Media Stream into HA, or SIP to OpenAI).
    transport: RealtimeTransport | None = None
    model: str | None = None
    call_id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    call_sid: str | None = None
    state: CallState = CallState.DIALING
    answered_by: str | None = None
    hang_up_requested: bool = False  # while dialling, before Twilio named the call
    amd_verdict: str | None = None  # the one machine-detection result Twilio sends
    human_known: bool = False  # a person (not voicemail) answered; `answered` has fired
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    awake: bool = False
    result: CallResult | None = None
    transcript: list[TranscriptLine] = field(default_factory=list)
    silences: int = 0  # consecutive turns without speech
    turns: int = 0
    fallbacks: int = 0  # replies spoken without the model
    # Why a realtime call continued turn-based, if it did.
    fallback_reason: str | None = None
    # Realtime: what the model used (Realtime tokens, or GPT-Live seconds).
    usage: dict[str, Any] = field(default_factory=dict)
    # Milestones of the call (TwiML served, stream connected, first audio...), for diagnostics.
    timings: dict[str, str] = field(default_factory=dict)
    # Integration time per turn, without the model's (milliseconds).
    turn_overhead_ms: list[float] = field(default_factory=list)
    _tokens: dict[str, TokenUse] = field(default_factory=dict)
    _spent: set[str] = field(default_factory=set)
    _status_sequence: int = -1

    def issue_token(self, use: TokenUse) -> str:
        """A new single-use token for one URL."""
        token = secrets.token_urlsafe(16)
        self._tokens[token] = use
        return token

    def redeem_token(self, use: TokenUse, token: str) -> bool:
        """Use a token up: True if it was live.

        False if it was issued but is spent or revoked (a late or repeated request
        of this call); UnknownTokenError if it was never issued for this use.
        Redeeming a TwiML token spends every other outstanding TwiML token too: each
        document offers a speech and a silence URL, and Twilio follows exactly one.
        """
        if self._tokens.get(token) is use:
            if use in OUT_OF_BAND:
                del self._tokens[token]
            else:
                self._spend(lambda other: other is not TokenUse.STREAM)
            self._spent.add(token)
            return True
        if token in self._spent:
            return False
        raise UnknownTokenError

    def _spend(self, which: Any) -> None:
        for token, use in list(self._tokens.items()):
            if which(use):
                del self._tokens[token]
                self._spent.add(token)

    def revoke_tokens(self) -> None:
        """No URL of this call works any more (the call is ending)."""
        self._spend(lambda use: True)

    def say(self, speaker: str, text: str, at: datetime) -> None:
        """Add a line to the transcript."""
        self.transcript.append(TranscriptLine(speaker, text, at))

    def mark(self, milestone: str, at: datetime) -> None:
        """Note when something first happened."""
        self.timings.setdefault(milestone, at.isoformat())

    def add_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        """Record the model's usage: summed per response, or a running total."""
        if cumulative:
            self.usage = dict(usage)
        else:
            _add_usage(self.usage, usage)

    @property
    def active(self) -> bool:
        """Not ended yet."""
        return self.state is not CallState.ENDED

    def apply_status(
        self,
        status: str,
        *,
        sequence: int,
        answered_by: str | None,
        at: datetime,
    ) -> CallResult | None:
        """Apply a status callback; the call's result when this one ends it.

        Callbacks can arrive out of order and can be replayed: one whose sequence
        number is not newer than the last one applied changes nothing, and the
        call's state never moves backwards.
        """
        if sequence <= self._status_sequence or not self.active:
            return None
        self._status_sequence = sequence
        if answered_by:
            self.answered_by = answered_by
        if status == "ringing":
            self.state = max(self.state, CallState.RINGING)
        elif status == "in-progress":
            self.state = CallState.IN_PROGRESS
            self.answered_at = self.answered_at or at
        elif status == "completed":
            return self.end(self._completed_result(), at)
        elif status in FINAL_STATUSES:
            return self.end(FINAL_STATUSES[status], at)
        return None

    def note_human(self) -> bool:
        """A person is known to have answered; True the first time only."""
        if self.human_known or not self.active or is_machine(self.answered_by):
            return False
        self.human_known = True
        return True

    def _completed_result(self) -> CallResult:
        if self.awake:
            return CallResult.AWAKE
        if is_machine(self.answered_by):
            return CallResult.VOICEMAIL
        return CallResult.NOT_AWAKE

    def end(self, result: CallResult, at: datetime) -> CallResult:
        """Finish the call with a result; its URLs stop working."""
        self.state = CallState.ENDED
        self.result = result
        self.ended_at = at
        self.revoke_tokens()
        return result

    def summary(self) -> dict[str, Any]:
        """What the call history keeps (the transcript stays local)."""
        return {
            "call_id": self.call_id,
            "mode": self.mode,
            "trigger": self.trigger.kind,
            "attempt": self.trigger.attempt,
            "engine": self.engine,
            "transport": self.transport,
            "model": self.model,
            "result": self.result,
            "fallback_reason": self.fallback_reason,
            "created_at": self.created_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "answered_by": self.answered_by,
            "turns": self.turns,
            "fallbacks": self.fallbacks,
            "timings": dict(self.timings),
            "usage": dict(self.usage),
            "turn_overhead_ms": [round(ms, 3) for ms in self.turn_overhead_ms],
            "transcript": [
                {"speaker": line.speaker, "text": line.text, "at": line.at.isoformat()}
                for line in self.transcript
            ],
        }
