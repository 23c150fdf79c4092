"""Unloading or reloading the entry in the middle of a live call leaks nothing.

The call is hung up through Twilio and ends as canceled; its Media Stream and its
OpenAI session close; no task of the integration is left running. Sockets are
counted in the process itself: after two identical rounds (a live call, then the
reload) the count must not grow, as it would by one stream and one OpenAI socket
per round if either leaked (a socket still closing is waited for); connection
pools have settled by the second round.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
import pytest

from custom_components.wakeup_coach import realtime, voice_engine
from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL
from custom_components.wakeup_coach.realtime import RealtimeCall
from simulator.server import Simulator
from simulator.sleepers import Say, SleeperScript

from .conftest import SLEEPER_NUMBER, Live, until

PACKAGE = str(Path(realtime.__file__).parent)
# Talks on and on: the call is live whenever the test unloads.
CHATTY = SleeperScript(
    name="chatty",
    description="Talks about anything but getting up.",
    lines=(Say("Let me tell you about my dream."),),
    then=Say("And then there was a dragon."),
)


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, twenty times faster than real time."""
    sim = Simulator(speed=20)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The bridge's own clocks, in simulated time like everything else."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", simulator.clock.speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 8 / simulator.clock.speed)


def sockets() -> int:
    """Open sockets of this process."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += str(fd.readlink()).startswith("socket:")
        except OSError:
            continue  # closed meanwhile
    return count


def integration_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks running the integration's code."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if (
            not task.done()
            and code is not None
            and code.co_filename.startswith(PACKAGE)
        ):
            found.append(task)
    return found


async def live_call_then(live: Live, action: str) -> None:
    """A live call in full flow; then the entry unloads or reloads under it."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = CHATTY
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    record = await placed
    calls = live.entry.runtime_data.calls
    sleeper = live.sleeper
    call = calls.calls_of()[0]
    handler = call.handler
    assert isinstance(handler, RealtimeCall)
    # Both sockets open, and the sleeper has been heard.
    await until(lambda: "stream_started" in call.session.timings)
    await until(
        lambda: any(line.speaker == "sleeper" for line in call.session.transcript)
    )
    assert len(live.simulator.realtime.sessions) == 1
    bridge = handler.bridge
    assert bridge is not None

    entry_id = live.entry.entry_id
    if action == "unload":
        assert await live.hass.config_entries.async_unload(entry_id)
    else:
        assert await live.hass.config_entries.async_reload(entry_id)
    await live.hass.async_block_till_done()

    # The call was ended cleanly: hung up through Twilio, recorded as canceled.
    assert not call.session.active
    assert call.session.result == "canceled"
    assert not sleeper.call_in_progress
    hang_ups = [
        r.data
        for r in live.simulator.recorder.requests_to("twilio", record.sid)
        if r.method == "POST"
    ]
    assert {"Status": "completed"} in hang_ups
    await asyncio.wait_for(record.done.wait(), 10)
    # Both of the call's sockets are closed, from the other side too.
    await until(lambda: live.simulator.realtime.sessions == [])
    assert live.simulator.recorder.events_named("stream_stopped")
    engine_ws = getattr(bridge.engine, "_ws", None)
    assert engine_ws is None or engine_ws.closed
    assert not bridge._tasks
    assert not bridge._timers
    assert not calls._tasks
    # Nothing of the integration keeps running (a reload's new self-test ends too).
    await until(lambda: not integration_tasks())


@pytest.mark.parametrize("action", ["unload", "reload"])
async def test_no_task_or_socket_outlives_the_call(live: Live, action: str) -> None:
    """Two rounds of a live call cut by an unload (or reload): nothing piles up."""
    after_first = 0
    for round_ in range(2):
        await live_call_then(live, action)
        if action == "unload":
            assert live.entry.state is ConfigEntryState.NOT_LOADED
            assert await live.hass.config_entries.async_setup(live.entry.entry_id)
            await live.hass.async_block_till_done()
            await until(lambda: not integration_tasks())
        assert live.entry.state is ConfigEntryState.LOADED
        if round_ == 0:
            after_first = sockets()
    # A socket still closing goes within moments; a leaked one never does.
    try:
        await until(lambda: sockets() <= after_first, timeout=10)
    except TimeoutError:
        pytest.fail(f"{sockets() - after_first} more socket(s) after the second round")
