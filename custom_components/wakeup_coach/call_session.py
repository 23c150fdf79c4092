"""One wake-up call: its state, single-use URL tokens, transcript and timings.

Plain Python. The call manager owns sessions; views and turn handlers update them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import secrets
from typing import Any

from .models import CallMode, CallResult, SleeperConfig

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


class CallState(StrEnum):
    """Where the call is."""

    DIALING = "dialing"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"


class TokenUse(StrEnum):
    """What a single-use URL token is for."""

    VOICE = "voice"
    SPEECH = "speech"
    SILENCE = "silence"


@dataclass(frozen=True)
class TranscriptLine:
    """One thing said on the call."""

    speaker: str  # "coach" or "sleeper"
    text: str
    at: datetime


@dataclass
class CallSession:
    """Everything about one call, from dialling to its result."""

    sleeper: SleeperConfig
    mode: CallMode
    created_at: datetime
    # The public URL the call's endpoints were given to Twilio under: signatures cover it.
    public_base: str
    extra_instructions: str | None = None
    call_id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    call_sid: str | None = None
    state: CallState = CallState.DIALING
    answered_by: str | None = None
    hang_up_requested: bool = False  # while dialling, before Twilio named the call
    amd_verdict: str | None = None  # the one machine-detection result Twilio sends
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    awake: bool = False
    result: CallResult | None = None
    transcript: list[TranscriptLine] = field(default_factory=list)
    silences: int = 0  # consecutive turns without speech
    turns: int = 0
    fallbacks: int = 0  # replies spoken without the model
    # Integration time per turn, without the model's (milliseconds).
    turn_overhead_ms: list[float] = field(default_factory=list)
    _tokens: dict[str, TokenUse] = field(default_factory=dict)
    _status_sequence: int = -1

    def issue_token(self, use: TokenUse) -> str:
        """A new single-use token for one TwiML URL."""
        token = secrets.token_urlsafe(16)
        self._tokens[token] = use
        return token

    def redeem_token(self, use: TokenUse, token: str) -> bool:
        """Use a token up; False if it was never issued for this use or is spent.

        Every other outstanding token dies with it: each TwiML document offers a
        speech and a silence URL, and Twilio follows exactly one of them.
        """
        if self._tokens.get(token) is not use:
            return False
        self._tokens.clear()
        return True

    def revoke_tokens(self) -> None:
        """No TwiML URL of this call works any more (the call is ending)."""
        self._tokens.clear()

    def say(self, speaker: str, text: str, at: datetime) -> None:
        """Add a line to the transcript."""
        self.transcript.append(TranscriptLine(speaker, text, at))

    @property
    def active(self) -> bool:
        """Not ended yet."""
        return self.state is not CallState.ENDED

    def apply_status(
        self,
        status: str,
        *,
        sequence: int | None,
        answered_by: str | None,
        at: datetime,
    ) -> CallResult | None:
        """Apply a status callback; the call's result when this one ends it.

        Callbacks can arrive out of order: an older sequence number is ignored.
        """
        if sequence is not None:
            if sequence <= self._status_sequence:
                return None
            self._status_sequence = sequence
        if answered_by:
            self.answered_by = answered_by
        if not self.active:
            return None
        if status == "ringing":
            self.state = CallState.RINGING
        elif status == "in-progress":
            self.state = CallState.IN_PROGRESS
            self.answered_at = self.answered_at or at
        elif status == "completed":
            return self.end(self._completed_result(), at)
        elif status in FINAL_STATUSES:
            return self.end(FINAL_STATUSES[status], at)
        return None

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
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "answered_by": self.answered_by,
            "turns": self.turns,
            "fallbacks": self.fallbacks,
            "turn_overhead_ms": [round(ms, 3) for ms in self.turn_overhead_ms],
            "transcript": [
                {"speaker": line.speaker, "text": line.text, "at": line.at.isoformat()}
                for line in self.transcript
            ],
        }
