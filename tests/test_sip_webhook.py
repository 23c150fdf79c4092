"""The OpenAI SIP webhook reads a body it can trust, or refuses it before any work.

tests/test_sip_calls.py delivers OpenAI's webhooks through the simulator; here
the bodies are what no real delivery sends: one too big without announcing its
size, one that trickles in, one that cannot be decoded. Each is refused with
its 4xx, and nothing reaches OpenAI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach import sip_webhook
from custom_components.wakeup_coach.const import (
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_TRANSPORT,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DOMAIN,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.sip_webhook import MAX_BODY_BYTES
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_PROJECT,
    DEFAULT_WEBHOOK_SECRET,
)

from .conftest import ENTRY_ID, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID, Live

WEBHOOK_ID = "0123456789abcdef" * 4
PATH = f"/api/webhook/{WEBHOOK_ID}"


@pytest.fixture
def mock_config_entry(
    account_data: dict[str, Any], sleeper_data: dict[str, Any]
) -> MockConfigEntry:
    """The usual entry with one sleeper, and SIP set up (so its webhook exists)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach +•••••••••00",
        unique_id=f"{DEFAULT_ACCOUNT_SID}_{DEFAULT_FROM_NUMBER}",
        entry_id=ENTRY_ID,
        data=account_data,
        options={
            CONF_REALTIME_TRANSPORT: "sip",
            CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT,
            CONF_WEBHOOK_SECRET: DEFAULT_WEBHOOK_SECRET,
            CONF_SIP_WEBHOOK_ID: WEBHOOK_ID,
        },
        subentries_data=[
            {
                "data": sleeper_data,
                "subentry_id": SLEEPER_SUBENTRY_ID,
                "subentry_type": SUBENTRY_SLEEPER,
                "title": "Alice",
                "unique_id": SLEEPER_NUMBER,
            }
        ],
    )


def openai_requests(live: Live) -> int:
    return len(live.simulator.recorder.requests_to("openai"))


async def test_oversized_body_without_a_length(live: Live) -> None:
    """A body over the limit that does not announce its size is cut off with 413."""
    before = openai_requests(live)

    async def chunks() -> AsyncGenerator[bytes]:
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    response = await live.client.post(PATH, data=chunks())
    assert response.status == 413
    assert openai_requests(live) == before


async def test_trickling_body(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body sent a few bytes at a time cannot hold the request open: 408."""
    monkeypatch.setattr(sip_webhook, "BODY_DEADLINE_SECONDS", 0.3)
    before = openai_requests(live)

    async def trickle() -> AsyncGenerator[bytes]:
        for _ in range(20):
            yield b"{"
            await asyncio.sleep(0.1)

    response = await live.client.post(PATH, data=trickle())
    assert response.status == 408
    assert openai_requests(live) == before


async def test_undecodable_body(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    """A body that cannot be decoded is refused with 400, not taken for a webhook that broke."""
    before = openai_requests(live)
    response = await live.client.post(
        PATH,
        data=b"not deflate data",
        headers={"Content-Encoding": "deflate", "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert openai_requests(live) == before
    # Not "Error processing webhook" with a traceback: refused like any bad body.
    assert not [
        r
        for r in caplog.records
        if r.getMessage().startswith("Error processing webhook")
    ]
