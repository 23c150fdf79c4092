"""Placing a call when Twilio's answer is ambiguous: never ring twice, never ring nobody.

tests/test_traditional_calls.py covers the ambiguous failures the simulator
stages end to end (a 500 after placing the call, found by its callbacks or in
Twilio's list). Here are the rest: Twilio's list unavailable as well, and a
callback that names the call while the failed request is still on its way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
import logging

import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wakeup_coach import dialer
from custom_components.wakeup_coach.call_session import CallSession
from custom_components.wakeup_coach.const import DOMAIN, EVENT_CALL, SERVICE_CALL
from custom_components.wakeup_coach.dialer import Dialer
from custom_components.wakeup_coach.models import CallMode, SleeperConfig
from custom_components.wakeup_coach.twilio_rest import TwilioConnectionError
from simulator.accounts import DEFAULT_ACCOUNT_SID
from simulator.phone_network import CallRecord
from simulator.sleepers import SCRIPTS

from .conftest import CREATE_CALL, SLEEPER_NUMBER, Live

LIST_CALLS = f"GET /2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json"
FORM = [("To", "+15550100111"), ("From", "+15550100100"), ("Url", "https://x")]


async def run_call(live: Live) -> tuple[CallRecord, list[str]]:
    """Call Alice, who gets up quickly; the simulated call and the event types."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    events = async_capture_events(live.hass, EVENT_CALL)
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "traditional"}, blocking=True
    )
    record = await waiting
    await record.done.wait()
    await live.wait_idle()
    return record, [event.data["type"] for event in events]


async def test_list_unavailable_then_the_call_names_itself(
    live: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio placed the call but answered 500, and could not list calls either.

    The dialer cannot know, so it waits to try again; the call's first callback
    names it during that wait, which ends the wait: nothing rings twice.
    """
    monkeypatch.setattr(dialer, "CREATE_CONFIRM_SECONDS", 0)
    monkeypatch.setattr(dialer, "RETRY_DELAYS", (60.0,))
    # The first callback to name the call is "answered", after the ringing.
    live.simulator.lost_status_events.update({"initiated", "ringing"})
    live.simulator.fail("twilio", CREATE_CALL, status=500, after_handler=True)
    live.simulator.fail("twilio", LIST_CALLS, status=500)
    async with asyncio.timeout(20):  # the 60 s wait is cut short
        record, events = await run_call(live)
    assert events[-1] == "awake"
    assert len(live.simulator.network.calls) == 1
    requests = live.simulator.recorder.requests_to("twilio", "Calls.json")
    assert [(r.method, r.status) for r in requests] == [("POST", 500), ("GET", 500)]
    assert record.application_error is None
    assert any(
        r.levelno == logging.WARNING
        and r.getMessage().startswith("Could not ask Twilio whether the call exists")
        for r in caplog.records
    )


@dataclass
class NamedDuringTheRequest:
    """A Twilio whose create fails after placing the call; its callback came first."""

    session: CallSession
    creates: int = 0
    listed: list[str] = field(default_factory=list)

    async def async_create_call(self, form: list[tuple[str, str]]) -> str:
        self.creates += 1
        # The status callback of the call this request placed arrived meanwhile.
        self.session.call_sid = "CA_named_by_callback"
        raise TwilioConnectionError("Service Unavailable", status=503)

    async def async_find_calls(
        self, **query: object
    ) -> list[tuple[str, str, datetime]]:
        self.listed.append(str(query))
        return []


async def test_named_while_the_failed_request_was_under_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The callback named the call before the 5xx arrived: that is the call, at once."""
    session = CallSession(
        sleeper=SleeperConfig(
            subentry_id="s1", name="Alice", phone_number="+15550100111"
        ),
        mode=CallMode.TRADITIONAL,
        created_at=datetime.now().astimezone(),
        public_base="https://ha.example",
    )
    twilio = NamedDuringTheRequest(session)
    dialing = Dialer(twilio)  # type: ignore[arg-type]
    async with asyncio.timeout(5):  # no wait for callbacks: one has come
        sid = await dialing.create(session, FORM)
    assert sid == "CA_named_by_callback"
    assert (twilio.creates, twilio.listed) == (1, [])
    assert any(
        r.getMessage().startswith("Twilio reported")
        and "but placed the call" in r.getMessage()
        for r in caplog.records
    )
