"""The test call's report, and how it ends, when the call does not go the happy way.

tests/test_selftest.py has the test call that connects and hangs itself up;
here the phone is busy, keeps ringing, or is hung up by the sleeper first, and
Twilio may refuse the hang-up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import logging
from typing import Any

import pytest

from custom_components.wakeup_coach import realtime, testcall, voice_engine
from custom_components.wakeup_coach.const import DOMAIN
from simulator.accounts import DEFAULT_ACCOUNT_SID
from simulator.phone_network import CallRecord
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS, Answer, HangUp, SleeperScript

from .conftest import SLEEPER_NUMBER, Live, until

# Rings for ten minutes: the test call never settles while it rings.
RINGING = SleeperScript(
    name="ringing", description="rings", answer=Answer.HUMAN, ring_seconds=10_000
)
# Answers, and hangs up on the coach's first words.
HANGS_UP_AT_ONCE = SleeperScript(
    name="hangs_up_at_once", description="hangs up", lines=(HangUp(),)
)
HANG_UP = f"POST /2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/CA"


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, twenty times faster than real time (as for realtime calls)."""
    sim = Simulator(speed=20)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The bridge's own clocks, in simulated time like everything else."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", simulator.clock.speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 8 / simulator.clock.speed)


async def run_test_call(live: Live) -> tuple[dict[str, Any], CallRecord]:
    """Run the test_call action; its report and the call Twilio placed."""
    placed = live.simulator.network.expect_call()
    report = await live.hass.services.async_call(
        DOMAIN, "test_call", {}, blocking=True, return_response=True
    )
    assert isinstance(report, dict)
    return report, await placed


def hang_ups(live: Live) -> list[dict[str, str]]:
    """The REST updates that asked Twilio to end a call."""
    return [
        r.data
        for r in live.simulator.recorder.requests_to("twilio", "/Calls/CA")
        if r.method == "POST" and r.data.get("Status") == "completed"
    ]


async def test_busy(live: Live) -> None:
    """A busy line: nothing fetched, never answered, busy; there is nothing to hang up."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["busy"]
    report, record = await run_test_call(live)
    assert (
        report["twiml_fetched"],
        report["stream_connected"],
        report["openai_answered"],
        report["result"],
        report["timed_out"],
    ) == (False, False, False, "busy", False)
    assert report["timings_ms"] == {
        "answered": None,
        "twiml_fetched": None,
        "stream_connected": None,
        "openai_answered": None,
    }
    await record.done.wait()
    await live.wait_idle()
    assert hang_ups(live) == []


async def test_still_ringing_when_the_wait_ends(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report says it timed out, and the test call still ends itself."""
    monkeypatch.setattr(testcall, "SETTLE_SECONDS", 0.3)
    monkeypatch.setattr(testcall, "TALK_SECONDS", 1.0)
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    report, record = await run_test_call(live)
    assert (report["twiml_fetched"], report["result"], report["timed_out"]) == (
        False,
        None,
        True,
    )
    await record.done.wait()
    await live.wait_idle()
    assert record.ended_by == "rest"
    assert hang_ups(live) == [{"Status": "completed"}]


async def test_twilio_refuses_the_hang_up(
    live: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A hang-up Twilio refuses is a warning; the call can still be hung up by hand."""
    monkeypatch.setattr(testcall, "SETTLE_SECONDS", 0.3)
    monkeypatch.setattr(testcall, "TALK_SECONDS", 1.0)
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    live.simulator.fail("twilio", HANG_UP, status=500)
    report, record = await run_test_call(live)
    assert report["timed_out"] is True
    await until(
        lambda: any(
            r.levelno == logging.WARNING
            and r.getMessage().startswith("Could not end the test call")
            for r in caplog.records
        )
    )
    assert live.sleeper.call_in_progress
    assert record.ended_by is None
    await live.hass.services.async_call(DOMAIN, "hang_up", {}, blocking=True)
    await record.done.wait()
    await live.wait_idle()
    assert record.ended_by == "rest"


async def test_sleeper_hangs_up_first(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hung up by the sleeper before the coach's time is up: nothing left to hang up."""
    monkeypatch.setattr(testcall, "TALK_SECONDS", 30.0)
    live.simulator.network.scripts[SLEEPER_NUMBER] = HANGS_UP_AT_ONCE
    report, record = await run_test_call(live)
    assert (report["stream_connected"], report["openai_answered"]) == (True, True)
    calls = live.entry.runtime_data.calls

    def ending() -> list[Any]:
        return [t for t in calls._tasks if t.get_name().endswith("end test call")]

    assert ending()  # waiting for the coach's time to be up
    await record.done.wait()
    await live.wait_idle()
    assert record.ended_by == "sleeper"
    # The test call's own hang-up comes after the coach's time, and finds the call over.
    await until(lambda: not ending())
    assert hang_ups(live) == []
