"""A call session: tokens, status callbacks in and out of order, results."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.wakeup_coach.call_session import (
    CallSession,
    CallState,
    TokenUse,
    UnknownTokenError,
)
from custom_components.wakeup_coach.models import CallMode, CallResult, SleeperConfig

AT = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def session() -> CallSession:
    """A new traditional call to Alice."""
    return CallSession(
        sleeper=SleeperConfig(
            subentry_id="s1", name="Alice", phone_number="+15550100111"
        ),
        mode=CallMode.TRADITIONAL,
        created_at=AT,
        public_base="https://ha.example",
    )


def test_tokens_are_single_use_and_typed() -> None:
    """A token works once, and only for what it was issued for."""
    call = session()
    speech = call.issue_token(TokenUse.SPEECH)
    with pytest.raises(UnknownTokenError):
        call.redeem_token(TokenUse.SILENCE, speech)
    assert call.redeem_token(TokenUse.SPEECH, speech) is True
    # Spent: known to be this call's, so a late request gets a polite answer.
    assert call.redeem_token(TokenUse.SPEECH, speech) is False
    with pytest.raises(UnknownTokenError):
        call.redeem_token(TokenUse.SPEECH, "never-issued")
    other = call.issue_token(TokenUse.VOICE)
    call.revoke_tokens()
    assert call.redeem_token(TokenUse.VOICE, other) is False
    # Using a turn's speech URL kills its silence URL: Twilio follows only one.
    speech, silence = (
        call.issue_token(TokenUse.SPEECH),
        call.issue_token(TokenUse.SILENCE),
    )
    assert call.redeem_token(TokenUse.SPEECH, speech) is True
    assert call.redeem_token(TokenUse.SILENCE, silence) is False
    assert session().call_id != call.call_id


def test_stream_token_survives_the_turns() -> None:
    """A realtime call's stream token is not spent by its TwiML requests, only by the stream."""
    call = session()
    stream = call.issue_token(TokenUse.STREAM)
    voice = call.issue_token(TokenUse.VOICE)
    assert call.redeem_token(TokenUse.VOICE, voice) is True
    assert call.redeem_token(TokenUse.STREAM, stream) is True
    assert call.redeem_token(TokenUse.STREAM, stream) is False


def test_status_sequence() -> None:
    """ringing, in-progress, completed: answered time kept, result from what happened."""
    call = session()
    assert call.apply_status("initiated", sequence=0, answered_by=None, at=AT) is None
    assert call.apply_status("ringing", sequence=1, answered_by=None, at=AT) is None
    assert call.state is CallState.RINGING
    call.apply_status("in-progress", sequence=2, answered_by=None, at=AT)
    assert call.answered_at == AT
    call.awake = True
    assert (
        call.apply_status("completed", sequence=3, answered_by=None, at=AT)
        is CallResult.AWAKE
    )
    assert not call.active
    # Anything after the end changes nothing.
    assert call.apply_status("completed", sequence=4, answered_by=None, at=AT) is None


def test_out_of_order_callbacks_are_ignored() -> None:
    """A late "ringing" after "in-progress" does not move the call back."""
    call = session()
    call.apply_status("in-progress", sequence=2, answered_by=None, at=AT)
    assert call.apply_status("ringing", sequence=1, answered_by=None, at=AT) is None
    assert call.state is CallState.IN_PROGRESS


def test_replayed_callbacks_change_nothing() -> None:
    """A replayed callback, or a newer "ringing" after the answer, never moves the call back."""
    call = session()
    call.apply_status("ringing", sequence=1, answered_by=None, at=AT)
    call.apply_status("in-progress", sequence=2, answered_by=None, at=AT)
    call.apply_status("in-progress", sequence=2, answered_by=None, at=AT)
    call.apply_status("ringing", sequence=5, answered_by=None, at=AT)
    assert call.state is CallState.IN_PROGRESS


def test_human_known_once() -> None:
    """`answered` fires once, and never for voicemail."""
    call = session()
    assert call.note_human() is True
    assert call.note_human() is False
    machine = session()
    machine.answered_by = "machine_start"
    assert machine.note_human() is False


@pytest.mark.parametrize(
    ("status", "answered_by", "result"),
    [
        ("completed", None, CallResult.NOT_AWAKE),
        ("completed", "machine_end_beep", CallResult.VOICEMAIL),
        ("completed", "fax", CallResult.VOICEMAIL),
        ("busy", None, CallResult.BUSY),
        ("no-answer", None, CallResult.NO_ANSWER),
        ("failed", None, CallResult.FAILED),
        ("canceled", None, CallResult.CANCELED),
    ],
)
def test_results(status: str, answered_by: str | None, result: CallResult) -> None:
    """Each final status maps to its result; voicemail is not awake."""
    call = session()
    assert (
        call.apply_status(status, sequence=1, answered_by=answered_by, at=AT) is result
    )
    assert call.summary()["result"] == result


def test_summary_keeps_the_transcript() -> None:
    """The history record carries timings, counts and the transcript."""
    call = session()
    call.say("coach", "Good morning", AT)
    call.turn_overhead_ms.append(0.12345)
    summary = call.summary()
    assert summary["transcript"] == [
        {"speaker": "coach", "text": "Good morning", "at": AT.isoformat()}
    ]
    assert summary["turn_overhead_ms"] == [0.123]
    assert summary["mode"] == "traditional"


def test_usage_is_summed_or_replaced() -> None:
    """Realtime usage comes per response (summed); GPT-Live's is a running total."""
    call = session()
    for _ in range(2):
        call.add_usage(
            {"total_tokens": 10, "input_token_details": {"audio_tokens": 4}},
            cumulative=False,
        )
    assert call.usage == {
        "total_tokens": 20,
        "input_token_details": {"audio_tokens": 8},
    }
    live = session()
    live.add_usage({"seconds": 15.0}, cumulative=True)
    live.add_usage({"seconds": 30.0}, cumulative=True)
    assert live.usage == {"seconds": 30.0}
