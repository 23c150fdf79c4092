"""The test call: a short live call that reports how far it got, and how fast.

What the old service's /test-call-realtime was for, answered by the call itself:
did Twilio fetch the TwiML, did its Media Stream connect, did OpenAI answer? The
call is a real one (it falls back to turn-based like any call); it skips the
connectivity self-test, which would otherwise keep a failing setup from being
tried live at all. Once it has settled, the action answers, and the coach gets a
few seconds to speak before the test call hangs up.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from homeassistant.exceptions import HomeAssistantError

from . import voice_engine
from .call_manager import CallManager
from .call_session import CallSession
from .const import LOGGER
from .models import CallMode, CallTrigger, EngineKind, TriggerKind
from .sleeper import Sleeper

INSTRUCTIONS = (
    "This is a short test call, placed by hand to check the live connection; "
    "the person is awake. Greet them in one sentence, tell them the live "
    "connection works, and say goodbye."
)
# The longest the action waits for the call to settle (ringing included).
SETTLE_SECONDS = 90.0
# How long the coach may talk once the call has settled, before the hang-up
# (call seconds: tests run calls in simulated time).
TALK_SECONDS = 12.0
POLL_SECONDS = 0.05


def _settled(session: CallSession) -> bool:
    """Whether the test has its answers: the stream and OpenAI both up, or a fallback, or the end."""
    timings = session.timings
    return (
        not session.active
        or session.fallback_reason is not None
        or ("stream_connected" in timings and "openai_connected" in timings)
    )


def _ms_after(session: CallSession, milestone: str) -> float | None:
    at = session.timings.get(milestone)
    if at is None:
        return None
    delta = datetime.fromisoformat(at) - session.created_at
    return round(delta.total_seconds() * 1000, 1)


def report(session: CallSession, *, timed_out: bool = False) -> dict[str, Any]:
    """What the test call found out (no phone number, no transcript)."""
    timings = session.timings
    answered_ms = None
    if session.answered_at is not None:
        answered_ms = round(
            (session.answered_at - session.created_at).total_seconds() * 1000, 1
        )
    return {
        "call_id": session.call_id,
        "engine": str(session.engine) if session.engine else None,
        "twiml_fetched": "twiml_served" in timings,
        "stream_connected": "stream_connected" in timings,
        "openai_answered": "openai_connected" in timings,
        "fallback_reason": session.fallback_reason,
        "result": str(session.result) if session.result else None,
        "timed_out": timed_out,
        # Milliseconds from dialling.
        "timings_ms": {
            "answered": answered_ms,
            "twiml_fetched": _ms_after(session, "twiml_served"),
            "stream_connected": _ms_after(session, "stream_connected"),
            "openai_answered": _ms_after(session, "openai_connected"),
        },
    }


async def async_test_call(
    calls: CallManager, sleeper: Sleeper, engine: EngineKind | None = None
) -> dict[str, Any]:
    """Place the test call, wait until it has settled, and report."""
    session = await calls.async_place_call(
        sleeper,
        CallMode.REALTIME,
        INSTRUCTIONS,
        engine,
        CallTrigger(kind=TriggerKind.TEST),
    )
    timed_out = False
    try:
        async with asyncio.timeout(SETTLE_SECONDS):
            # The bridge notes its milestones in the session without telling anyone.
            while not _settled(session):  # noqa: ASYNC110
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        timed_out = True
    result = report(session, timed_out=timed_out)
    LOGGER.info(
        "Test call to %s: TwiML fetched %s, stream connected %s, OpenAI answered %s%s",
        sleeper.config.name,
        result["twiml_fetched"],
        result["stream_connected"],
        result["openai_answered"],
        f", continued turn-based ({session.fallback_reason})"
        if session.fallback_reason
        else "",
    )
    if session.active:
        calls.spawn(_hang_up_later(calls, sleeper, session), "end test call")
    return result


async def _hang_up_later(
    calls: CallManager, sleeper: Sleeper, session: CallSession
) -> None:
    """Let the coach say its lines, then end the test call."""
    await asyncio.sleep(TALK_SECONDS / voice_engine.TIME_SCALE)
    if session.active and calls.current_call_id(sleeper) == session.call_id:
        try:
            await calls.async_hang_up(sleeper)
        except HomeAssistantError as err:
            LOGGER.warning("Could not end the test call: %s", err)
