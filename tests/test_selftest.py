"""The connectivity self-test against Home Assistant's own HTTP server, and what it drives.

Here the public URL is Home Assistant's test server itself (plain http, which
the simulator accepts); tests/test_selftest_proxy.py puts a real nginx with TLS
in front of it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wakeup_coach import realtime, selftest, testcall, voice_engine
from custom_components.wakeup_coach.const import DOMAIN, EVENT_CALL, SERVICE_CALL
from custom_components.wakeup_coach.selftest import (
    SelfTester,
    SelfTestResult,
    Step,
    StepStatus,
    Verdict,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS, Say, SleeperScript

from .conftest import CLOSED_PORT_URL, ENTRY_ID, SLEEPER_NUMBER, Live

SELFTEST_ISSUE = f"selftest_{ENTRY_ID}"


def entity_id(hass: HomeAssistant, platform: str, key: str) -> str:
    """The account's entity with this key (its name follows the entry's title)."""
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{ENTRY_ID}_{key}"
    )
    assert found is not None
    return found


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


def selftester(live: Live) -> SelfTester:
    return live.entry.runtime_data.selftest


def statuses(result: SelfTestResult) -> dict[str, StepStatus]:
    return {step.step: step.status for step in result.steps}


def issue(hass: HomeAssistant, issue_id: str = SELFTEST_ISSUE) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


async def test_passes_through_the_public_url(live: Live) -> None:
    """Every step passes (TLS skipped on plain http), each one timed; the sensor shows it."""
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.PASSED
    assert statuses(result) == {
        "url": StepStatus.PASSED,
        "dns": StepStatus.PASSED,
        "connect": StepStatus.PASSED,
        "tls": StepStatus.SKIPPED,
        "twiml": StepStatus.PASSED,
        "websocket": StepStatus.PASSED,
        "echo": StepStatus.PASSED,
    }
    assert all(step.ms is not None for step in result.steps if step.step != "tls")
    assert result.host == live.base_url
    state = live.hass.states.get(
        entity_id(live.hass, "sensor", "connectivity_self_test")
    )
    assert state is not None
    assert state.state == "passed"
    assert state.attributes["steps"]["websocket"]["status"] == "passed"
    assert state.attributes["tested_at"] == result.tested_at.isoformat()
    assert issue(live.hass) is None
    # Every test token was used up.
    assert len(selftest.tickets(live.hass)) == 0


async def test_button_and_action(live: Live) -> None:
    """The button runs it; the action runs it and answers with the result."""
    runs = len(selftester(live).history)
    await live.hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity_id(live.hass, "button", "run_self_test")},
        blocking=True,
    )
    assert len(selftester(live).history) == runs + 1
    response = await live.hass.services.async_call(
        DOMAIN, "self_test", {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    assert response["result"] == "passed"
    assert response["failed_step"] is None
    assert set(response["steps"]) == {step.value for step in Step}
    assert len(selftester(live).history) == runs + 2


async def test_no_external_url(live: Live) -> None:
    """Without an external URL it fails at the first step; the URL's own issue explains."""
    await live.hass.config.async_update(external_url=None)
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.FAILED
    failed = result.failed_step
    assert failed is not None
    assert (failed.step, failed.detail) == (Step.URL, "no_external_url")
    assert issue(live.hass, f"no_public_url_{ENTRY_ID}") is not None
    assert issue(live.hass) is None  # no second issue for the same cause
    await live.hass.config.async_update(external_url=live.base_url)
    assert (await selftester(live).async_run()).verdict is Verdict.PASSED
    assert issue(live.hass, f"no_public_url_{ENTRY_ID}") is None


async def test_plain_http_for_real_twilio(live: Live) -> None:
    """Real Twilio needs https: an http external URL fails with its own repair issue."""
    monkey = selftester(live)
    monkey.require_https = True
    result = await monkey.async_run()
    failed = result.failed_step
    assert failed is not None
    assert (failed.step, failed.detail) == (Step.URL, "not_https")
    found = issue(live.hass, f"public_url_not_https_{ENTRY_ID}")
    assert found is not None
    assert found.translation_placeholders == {"host": live.base_url.split("//")[1]}
    assert issue(live.hass, f"no_public_url_{ENTRY_ID}") is None
    monkey.require_https = False
    assert (await monkey.async_run()).verdict is Verdict.PASSED
    assert issue(live.hass, f"public_url_not_https_{ENTRY_ID}") is None


async def test_nothing_listening(live: Live) -> None:
    """A closed port on a private address is a failure, with the connect step's issue."""
    await live.hass.config.async_update(external_url=CLOSED_PORT_URL)
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.FAILED
    failed = result.failed_step
    assert failed is not None
    assert failed.step is Step.CONNECT
    assert "connect" in failed.detail or "refused" in failed.detail
    found = issue(live.hass)
    assert found is not None
    assert found.translation_key == "selftest_failed_connect"
    assert found.severity is ir.IssueSeverity.ERROR
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["port"] == "9"
    # Fixed: the next run clears it.
    await live.hass.config.async_update(external_url=live.base_url)
    await selftester(live).async_run()
    assert issue(live.hass) is None


async def test_hairpin_nat_is_inconclusive(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public address that does not answer from inside may be the router: inconclusive."""

    async def public_only(host: str, port: int) -> list[str]:
        return ["8.8.8.8"]  # the router's public address, as DNS says

    async def router_drops(address: str, port: int) -> Any:
        raise TimeoutError  # no hairpin NAT: the connection from inside goes nowhere

    await live.hass.config.async_update(external_url="https://home.example.org")
    monkeypatch.setattr(selftest, "resolve", public_only)
    monkeypatch.setattr(selftest, "open_tcp", router_drops)
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.INCONCLUSIVE
    failed = result.failed_step
    assert failed is not None
    assert failed.step is Step.CONNECT
    assert failed.detail.startswith("hairpin NAT suspected")
    found = issue(live.hass)
    assert found is not None
    assert found.translation_key == "selftest_inconclusive"
    assert found.severity is ir.IssueSeverity.WARNING
    # Inconclusive does not keep live calls from being tried.
    assert await selftester(live).async_realtime_preflight() is None


def test_hairpin_only_for_public_addresses() -> None:
    """Only a host known solely by public addresses can be a hairpin case."""
    assert selftest.hairpin_suspected(["8.8.8.8", "2001:4860:4860::8888"])
    assert not selftest.hairpin_suspected(["8.8.8.8", "192.168.1.10"])
    assert not selftest.hairpin_suspected(["127.0.0.1"])
    assert not selftest.hairpin_suspected([])


async def test_a_failing_self_test_makes_the_live_call_turn_based(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialing event says why the call is not live; the call still wakes her."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    events = async_capture_events(live.hass, EVENT_CALL)

    async def websocket_refused() -> str:
        raise selftest.StepFailedError("the upgrade was answered HTTP 400, not 101")

    monkeypatch.setattr(selftest._Run, "websocket", lambda _: websocket_refused())
    placed = live.simulator.network.expect_call()
    response = await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    assert response["mode"] == "traditional"
    await (await placed).done.wait()
    await live.wait_idle()
    dialing = events[0].data
    assert dialing["type"] == "dialing"
    assert dialing["mode"] == "traditional"
    assert dialing["mode_reason"] == "selftest_failed"
    assert dialing["selftest_step"] == "websocket"
    assert events[-1].data["type"] == "awake"
    found = issue(live.hass)
    assert found is not None
    assert found.translation_key == "selftest_failed_websocket"


async def test_a_recent_pass_is_trusted_for_a_day(live: Live) -> None:
    """Before a live call the self-test runs only when its last pass is older than a day."""
    first = await selftester(live).async_run()
    assert await selftester(live).async_realtime_preflight() is None
    assert selftester(live).last is first  # not run again
    first.tested_at -= timedelta(days=1, seconds=1)
    assert await selftester(live).async_realtime_preflight() is None
    assert selftester(live).last is not first


async def test_last_stream_connection(live: Live) -> None:
    """A live call's stream connecting shows on the account's diagnostic sensor."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    sensor = entity_id(live.hass, "sensor", "last_stream_connection")
    state = live.hass.states.get(sensor)
    assert state is not None
    assert state.state == "unknown"
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    await (await placed).done.wait()
    await live.wait_idle()
    state = live.hass.states.get(sensor)
    assert state is not None
    assert state.state == "connected"
    assert state.attributes["sleeper"] == "Alice"
    assert state.attributes["connect_ms"] >= 0


CHATTY = SleeperScript(
    name="chatty",
    description="Answers a test call and chats, never says goodbye.",
    lines=(Say("Hello? Oh, the test call."),),
    then=Say("Sounds good."),
)


async def test_test_call_reports_and_ends_itself(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test call says how far it got and when, skips the self-test, and hangs up."""
    monkeypatch.setattr(testcall, "TALK_SECONDS", 4.0)
    live.simulator.network.scripts[SLEEPER_NUMBER] = CHATTY
    runs = len(selftester(live).history)
    placed = live.simulator.network.expect_call()
    report = await live.hass.services.async_call(
        DOMAIN, "test_call", {}, blocking=True, return_response=True
    )
    assert isinstance(report, dict)
    assert (
        report["twiml_fetched"],
        report["stream_connected"],
        report["openai_answered"],
        report["fallback_reason"],
        report["timed_out"],
    ) == (True, True, True, None, False)
    timings = report["timings_ms"]
    assert 0 < timings["twiml_fetched"] <= timings["stream_connected"]
    assert timings["openai_answered"] > 0
    assert len(selftester(live).history) == runs  # no self-test for a test call
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    last = live.entry.runtime_data.calls.history[0]
    assert last["trigger"] == "test"
    assert record.ended_by == "rest"  # the test call hung up by itself
    assert record.said("coach")  # the coach spoke before the hang-up


async def test_an_unexpected_error_is_a_failed_step(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that breaks in an unforeseen way fails that step; the test still reports."""

    async def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver exploded")

    await live.hass.config.async_update(external_url="https://home.example.org")
    monkeypatch.setattr(selftest, "resolve", broken)
    result = await selftester(live).async_run()
    failed = result.failed_step
    assert failed is not None
    assert (failed.step, failed.detail) == (
        Step.DNS,
        "unexpected error: RuntimeError",
    )
    assert selftester(live).last is result
