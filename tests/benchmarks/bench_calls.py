"""How much time the integration itself spends per call turn and per dial.

Run with scripts/bench. Prints numbers; asserts nothing about time. Each figure
comes with a baseline measured in the same process, the same way, and the ratio:

- turn: time inside the TwiML view per Gather turn, the model's time subtracted,
  against a no-op view that only reads the form and returns fixed TwiML.
- dial: from calling wakeup_coach.call to Twilio (the simulator) holding the call,
  against one bare POST of the same form to Calls.json through HA's session.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import logging
import statistics
import time

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.http import HomeAssistantView
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
)
from simulator.sleepers import Say, SleeperScript
from tests.conftest import SLEEPER_NUMBER, Live

CALLS = 8
TURNS_PER_CALL = 12
CHATTY = SleeperScript(
    name="chatty",
    description="talks a lot, proves, says goodbye",
    ring_seconds=1,
    lines=(
        *(Say(f"Still waking up, step {i}.") for i in range(TURNS_PER_CALL - 2)),
        Say("Now I'm in the bathroom.", proof=True),
        Say("Goodbye!"),
    ),
    think_seconds=0.1,
)


class NoOpView(HomeAssistantView):
    """The floor: read the form, answer fixed TwiML."""

    url = "/api/bench/noop"
    name = "api:bench:noop"
    requires_auth = False
    timings: list[float] = []  # noqa: RUF012

    async def post(self, request: web.Request) -> web.Response:
        """Answer at once."""
        started = time.perf_counter()
        await request.post()
        response = web.Response(
            text="<Response><Hangup/></Response>", content_type="text/xml"
        )
        self.timings.append((time.perf_counter() - started) * 1000)
        return response


def summary(values: list[float]) -> str:
    """Median and 95th percentile."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):7.3f} ms   p95 {p95:7.3f} ms   (n={len(ordered)})"


@pytest.fixture
def quiet_logs(live: Live) -> Iterator[None]:
    """Info lines for every request would bury the figures and add to them."""
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture
def noop_view(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Registered before HA's HTTP server starts serving (routes freeze then)."""
    hass.http.register_view(NoOpView())


async def test_turn_and_dial_times(
    noop_view: None, live: Live, quiet_logs: None
) -> None:
    """Measure, print, compare with the baselines."""
    hass, simulator = live.hass, live.simulator
    simulator.network.scripts[SLEEPER_NUMBER] = CHATTY

    dial_ms: list[float] = []
    for _ in range(CALLS):
        placed = simulator.network.expect_call()
        started = time.perf_counter()
        await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
        dial_ms.append((time.perf_counter() - started) * 1000)
        record = await placed
        await record.done.wait()
        await live.wait_idle()
        assert live.entry.runtime_data.calls.history[0]["result"] == "awake"
    turn_ms = [
        ms
        for call in live.entry.runtime_data.calls.history
        for ms in call["turn_overhead_ms"]
    ]

    session = async_get_clientsession(hass)
    form = {
        "To": SLEEPER_NUMBER,
        "From": DEFAULT_FROM_NUMBER,
        "Url": f"{live.base_url}/api/bench/noop",
    }
    token = base64.b64encode(
        f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()
    ).decode()
    bare_ms: list[float] = []
    for _ in range(CALLS):
        placed = simulator.network.expect_call()
        started = time.perf_counter()
        async with session.post(
            f"{simulator.base_url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json",
            data=form,
            headers={"Authorization": f"Basic {token}"},
        ) as response:
            assert response.status == 201
        bare_ms.append((time.perf_counter() - started) * 1000)
        await (await placed).done.wait()
    for _ in range(len(turn_ms)):
        async with session.post(
            f"{live.base_url}/api/bench/noop", data={"SpeechResult": "hello"}
        ) as response:
            assert response.status == 200
    noop_ms = NoOpView.timings

    turn, noop = statistics.median(turn_ms), statistics.median(noop_ms)
    dial, bare = statistics.median(dial_ms), statistics.median(bare_ms)
    print()  # noqa: T201
    print(f"Gather turn, integration only: {summary(turn_ms)}")  # noqa: T201
    print(f"  baseline no-op view:         {summary(noop_ms)}")  # noqa: T201
    print(f"  ratio: {turn / noop:.1f}x the no-op view; target median < 5 ms")  # noqa: T201
    print(f"Setup to dial (call action):   {summary(dial_ms)}")  # noqa: T201
    print(f"  baseline bare Calls.json:    {summary(bare_ms)}")  # noqa: T201
    print(f"  ratio: {dial / bare:.1f}x one bare REST request")  # noqa: T201
