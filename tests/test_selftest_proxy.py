"""The self-test behind a real reverse proxy: it passes and fails for the real reasons.

nginx (Debian's package) runs on a loopback port with a certificate from a test
certificate authority, in front of Home Assistant's HTTP server; Home Assistant's
external URL is nginx's https://localhost:<port>. Both Home Assistant's own
client (the self-test) and the simulated Twilio trust that authority explicitly;
the simulated Twilio, like the real one, opens Media Streams over wss only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
import ssl
from typing import Any

import aiohttp
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events
import pytest_socket

from custom_components.wakeup_coach import realtime, voice_engine
from custom_components.wakeup_coach.const import DOMAIN, EVENT_CALL, SERVICE_CALL
from custom_components.wakeup_coach.selftest import (
    SelfTester,
    SelfTestResult,
    Step,
    StepStatus,
    Verdict,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import ENTRY_ID, SLEEPER_NUMBER, Live
from .nginx_proxy import Nginx, ProxyCertificates, Setup, free_port, make_certificates

SELFTEST_ISSUE = f"selftest_{ENTRY_ID}"

type StartProxy = Callable[[Setup], Coroutine[Any, Any, str]]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> ProxyCertificates:
    """The test certificate authority and nginx's certificate for localhost.

    Home Assistant's client context (the one its shared aiohttp session verifies
    with) trusts the authority from here on: one more trusted root for this test
    process, and verification stays on.
    """
    made = make_certificates(tmp_path_factory.mktemp("pki"))
    ssl_util.get_default_context().load_verify_locations(cadata=made.ca_pem)
    return made


class SystemResolver(aiohttp.ThreadedResolver):
    """The system's resolver, closed like the plugin's own at the end of a test."""

    async def real_close(self) -> None:
        await self.close()


@pytest.fixture(autouse=True)
def loopback_v6(socket_enabled: None) -> None:
    """The name localhost may resolve to ::1 first: connecting there is refused, as on a real host."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"])


@pytest.fixture(autouse=True)
def system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Home Assistant's client resolves localhost with the system resolver here.

    The test plugin gives every test an aiodns resolver, which cannot resolve
    names in every environment (the oldest one's aiodns and pycares disagree).
    """
    monkeypatch.setattr(
        "homeassistant.helpers.aiohttp_client._async_make_resolver",
        lambda hass: SystemResolver(),
    )


@pytest.fixture
async def simulator(
    socket_enabled: None, certificates: ProxyCertificates
) -> AsyncGenerator[Simulator]:
    """Twilio as strict as the real one (wss only), trusting the test authority."""
    context = ssl.create_default_context(cadata=certificates.ca_pem)
    sim = Simulator(speed=20, allow_insecure_streams=False, ssl_context=context)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The bridge's own clocks, in simulated time like everything else."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", simulator.clock.speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 8 / simulator.clock.speed)


@pytest.fixture
async def nginx(
    tmp_path: Path, certificates: ProxyCertificates
) -> AsyncGenerator[Nginx]:
    """An nginx process, stopped after the test whatever happens."""
    proxy = Nginx(tmp_path / "nginx", certificates)
    yield proxy
    await proxy.stop()


@pytest.fixture
def behind(live: Live, nginx: Nginx) -> StartProxy:
    """Start nginx configured some way in front of HA; HA's external URL becomes nginx's."""

    async def start(setup: Setup) -> str:
        port = await nginx.start(setup, live.client.server.port)
        scheme = "http" if setup is Setup.PLAIN else "https"
        url = f"{scheme}://localhost:{port}"
        await live.hass.config.async_update(external_url=url)
        return url

    return start


def selftester(live: Live) -> SelfTester:
    return live.entry.runtime_data.selftest


def failed_at(result: SelfTestResult) -> tuple[Step | None, str]:
    failed = result.failed_step
    return (failed.step, failed.detail) if failed else (None, "")


def issue(live: Live, issue_id: str = SELFTEST_ISSUE) -> ir.IssueEntry | None:
    return ir.async_get(live.hass).async_get_issue(DOMAIN, issue_id)


async def test_configured_right(live: Live, behind: StartProxy, nginx: Nginx) -> None:
    """Passes every step through nginx, and a live call through it works end to end."""
    await behind(Setup.RIGHT)
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.PASSED, result.as_dict()
    steps = {step.step: step for step in result.steps}
    assert all(step.status is StepStatus.PASSED for step in result.steps)
    assert steps[Step.TLS].detail.startswith("certificate valid for")
    assert issue(live) is None

    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    events = async_capture_events(live.hass, EVENT_CALL)
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    assert [event.data["type"] for event in events] == ["dialing", "answered", "awake"]
    assert events[0].data["mode"] == "realtime"
    assert "mode_reason" not in events[0].data
    # Twilio fetched the TwiML over https and opened the stream over wss, via nginx.
    assert record.url is not None
    assert record.url.startswith(f"https://localhost:{nginx.port}/")
    assert len(record.stream_sids) == 1
    assert " 101 " in next(
        line
        for line in nginx.access_log.splitlines()
        if "/stream/" in line and "selftest" not in line
    )
    assert live.entry.runtime_data.calls.history[0]["fallback_reason"] is None


async def test_upgrade_headers_missing(
    live: Live, behind: StartProxy, nginx: Nginx
) -> None:
    """Without Upgrade/Connection, it fails at the WebSocket step with the proxy guidance.

    A live call then goes turn-based at once and says why; a test call, which
    skips the self-test, shows that Twilio indeed cannot open the stream.
    """
    await behind(Setup.NO_UPGRADE)
    result = await selftester(live).async_run()
    assert result.verdict is Verdict.FAILED
    assert failed_at(result) == (
        Step.WEBSOCKET,
        "the upgrade was answered HTTP 400, not 101",
    )
    found = issue(live)
    assert found is not None
    assert found.translation_key == "selftest_failed_websocket"
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["host"] == "localhost"
    assert found.translation_placeholders["upstream"].startswith("http://")

    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    events = async_capture_events(live.hass, EVENT_CALL)
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    dialing = events[0].data
    assert (dialing["mode"], dialing["mode_reason"], dialing["selftest_step"]) == (
        "traditional",
        "selftest_failed",
        "websocket",
    )
    assert events[-1].data["type"] == "awake"
    assert record.stream_sids == []

    placed = live.simulator.network.expect_call()
    report = await live.hass.services.async_call(
        DOMAIN, "test_call", {}, blocking=True, return_response=True
    )
    record = await placed
    assert isinstance(report, dict)
    assert report["twiml_fetched"] is True
    assert report["stream_connected"] is False
    assert report["fallback_reason"] == "stream_failed"
    handshake = live.simulator.recorder.events_named("stream_error")
    assert handshake[0]["code"] == 31920  # Twilio's "handshake error": not 101
    await record.done.wait()
    await live.wait_idle()
    assert issue(live, f"stream_not_connected_{ENTRY_ID}") is not None


async def test_blocked_port(live: Live) -> None:
    """Nothing listens on the public port (no forwarding, a firewall): fails at connect."""
    await live.hass.config.async_update(external_url=f"https://localhost:{free_port()}")
    result = await selftester(live).async_run()
    step, detail = failed_at(result)
    assert step is Step.CONNECT
    assert "refused" in detail
    found = issue(live)
    assert found is not None
    assert found.translation_key == "selftest_failed_connect"


async def test_plain_ws_url(live: Live, behind: StartProxy) -> None:
    """An http (so ws://) external URL cannot work with real Twilio: it says so first."""
    await behind(Setup.PLAIN)
    selftester(live).require_https = True  # as with real Twilio
    result = await selftester(live).async_run()
    assert failed_at(result) == (Step.URL, "not_https")
    assert issue(live, f"public_url_not_https_{ENTRY_ID}") is not None
    assert issue(live) is None


async def test_https_url_on_a_plain_port(
    live: Live, behind: StartProxy, nginx: Nginx
) -> None:
    """An https URL whose port speaks plain http fails at TLS, with its own guidance."""
    await behind(Setup.PLAIN)
    await live.hass.config.async_update(external_url=f"https://localhost:{nginx.port}")
    result = await selftester(live).async_run()
    step, detail = failed_at(result)
    assert step is Step.TLS
    assert detail.startswith("TLS error")
    found = issue(live)
    assert found is not None
    assert found.translation_key == "selftest_failed_tls"


async def test_untrusted_certificate(live: Live, tmp_path: Path) -> None:
    """A certificate from an authority nobody trusts (self-made): fails at TLS."""
    untrusted = Nginx(tmp_path / "untrusted", make_certificates(tmp_path / "other-ca"))
    try:
        port = await untrusted.start(Setup.RIGHT, live.client.server.port)
        await live.hass.config.async_update(external_url=f"https://localhost:{port}")
        result = await selftester(live).async_run()
    finally:
        await untrusted.stop()
    step, detail = failed_at(result)
    assert step is Step.TLS
    assert detail.startswith("certificate not valid")
    found = issue(live)
    assert found is not None
    assert found.translation_key == "selftest_failed_tls"


async def test_proxy_adds_forwarded_for(live: Live, behind: StartProxy) -> None:
    """X-Forwarded-For from a proxy HA does not trust: HA answers 400, the TwiML step says so."""
    await behind(Setup.FORWARDED_FOR)
    result = await selftester(live).async_run()
    assert failed_at(result) == (Step.TWIML, "answered HTTP 400")
    found = issue(live)
    assert found is not None
    assert found.translation_key == "selftest_failed_twiml"
