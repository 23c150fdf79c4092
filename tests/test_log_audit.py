"""No secret and no full phone number in any log record, even at DEBUG.

Turn-based and live calls (both engines, one that falls back), the self-test and
the test call run with every logger at DEBUG; then every record, from the
integration and from the libraries it drives (aiohttp, httpx, openai, Home
Assistant), is searched for the account's secrets, the phone numbers (in any
spelling), and the secret parts of the calls' URLs (call ids and tokens).

The simulator's own records are left out: it plays Twilio and OpenAI, it is not
the product. Home Assistant's request log and aiohttp's access log (which
Home Assistant keeps at WARNING) are at DEBUG too: they write request paths.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import logging
import re
from typing import Any

import pytest

from custom_components.wakeup_coach import log_redact, realtime, voice_engine
from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL
from simulator.accounts import (
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import SLEEPER_NUMBER, Live


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


def spellings(number: str) -> set[str]:
    """A phone number as it could appear: E.164, URL-encoded, digits, national part."""
    digits = number.lstrip("+")
    return {number, f"%2B{digits}", digits, digits[1:]}


async def run_call(live: Live, **data: Any) -> None:
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, data, blocking=True)
    await (await placed).done.wait()
    await live.wait_idle()


async def test_no_secret_in_any_record(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Every scenario at DEBUG; then no record holds a secret or a full number."""
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp.access", "homeassistant.helpers.http"):
        caplog.set_level(logging.DEBUG, logger=name)
    hass = live.hass
    await run_call(live)  # turn-based
    await run_call(live, mode="realtime", engine="realtime")
    await run_call(live, mode="realtime", engine="live")
    live.simulator.fail("openai", "/v1/realtime", status=401)
    await run_call(live, mode="realtime", engine="realtime")  # falls back
    await hass.services.async_call(
        DOMAIN, "self_test", {}, blocking=True, return_response=True
    )
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    await hass.services.async_call(
        DOMAIN, "test_call", {}, blocking=True, return_response=True
    )
    await (await placed).done.wait()
    await live.wait_idle()

    secrets = {DEFAULT_AUTH_TOKEN, DEFAULT_OPENAI_KEY}
    secrets |= spellings(SLEEPER_NUMBER) | spellings(DEFAULT_FROM_NUMBER)
    # The secret parts of every URL the calls gave Twilio: call ids and tokens.
    for call in live.simulator.network.calls.values():
        record = call.record
        for url in [
            record.url,
            record.status_callback,
            *(u for u, _ in record.webhooks),
        ]:
            if url:
                secrets |= set(re.findall(r"/call/([\w-]{20,})", url))
                secrets |= set(re.findall(r"/[a-z]+/([\w-]{16,})$", url))
    for summary in live.entry.runtime_data.calls.history:
        secrets.add(summary["call_id"])
    assert len(secrets) > 12  # the scenarios ran, and their URLs were collected
    records = [
        record for record in caplog.records if not record.name.startswith("simulator")
    ]
    assert any(r.levelno == logging.DEBUG for r in records)
    assert any(r.name.startswith("custom_components.wakeup_coach") for r in records)
    # Request paths were logged (shortened), by Home Assistant and by aiohttp.
    for name in ("homeassistant.helpers.http", "aiohttp.access"):
        assert any(
            r.name == name and "/api/wakeup_coach/call/" in r.getMessage()
            for r in records
        )
    leaks = [
        (record.name, secret, record.getMessage()[:200])
        for record in records
        for secret in secrets
        if secret in _text(record)
    ]
    assert leaks == []


def _text(record: logging.LogRecord) -> str:
    """Everything a handler could write for a record: message, arguments, traceback."""
    parts = [record.getMessage(), str(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def test_redact_shortens_ids_and_tokens_only() -> None:
    """Long segments of our paths are cut; endpoint names and other paths stay."""
    line = (
        "POST /api/wakeup_coach/call/aZ_SWG_f5JkUldNGZDTpJSg3/voice/"
        "Q5mUs-3hE0x9mZ7kLp2aRw HTTP/1.1 and /api/webhook/0123456789abcdef0123"
    )
    assert log_redact.redact(line) == (
        "POST /api/wakeup_coach/call/aZ_SWG…/voice/Q5mUs-… HTTP/1.1 and "
        "/api/webhook/0123456789abcdef0123"
    )
