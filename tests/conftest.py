"""Fixtures shared by every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION, Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.wakeup_coach import PLATFORMS, dialer
from custom_components.wakeup_coach.const import (
    CONF_ACCOUNT_SID,
    CONF_AUTH_TOKEN,
    CONF_FROM_NUMBER,
    CONF_LANGUAGE,
    CONF_NAME,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_PERSONA_NOTES,
    CONF_PHONE_NUMBER,
    CONF_REALTIME_VOICE,
    CONF_TWILIO_BASE_URL,
    CONF_VERIFICATION_ENTITIES,
    CONF_VOICE,
    CONF_WEEKDAYS,
    DOMAIN,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.sleeper import Sleeper
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)
from simulator.server import Simulator

SLEEPER_NUMBER = "+15550100111"
SLEEPER_SUBENTRY_ID = "01JSLEEPERALICE0000000000"
ENTRY_ID = "01JENTRY00000000000000000"
# The request that creates a call (fault injection must not hit the list request).
CREATE_CALL = f"POST /2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json"
# Nothing listens on port 9 (discard): a service that cannot be reached.
CLOSED_PORT_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/wakeup_coach."""


class VersionedSnapshotExtension(HomeAssistantSnapshotExtension):
    """Keep snapshots per Home Assistant version: registry entries differ between them."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        """tests/snapshots/ha<major>.<minor>/."""
        return str(
            Path(test_location.filepath).parent
            / "snapshots"
            / f"ha{MAJOR_VERSION}.{MINOR_VERSION}"
        )


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots stored per Home Assistant version."""
    return snapshot.use_extension(VersionedSnapshotExtension)


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, simulated on 127.0.0.1; calls run 40 times faster than real time."""
    sim = Simulator(speed=40)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def account_data(simulator: Simulator) -> dict[str, Any]:
    """Config entry data of an account that exists in the simulator."""
    return {
        CONF_ACCOUNT_SID: DEFAULT_ACCOUNT_SID,
        CONF_AUTH_TOKEN: DEFAULT_AUTH_TOKEN,
        CONF_FROM_NUMBER: DEFAULT_FROM_NUMBER,
        CONF_OPENAI_API_KEY: DEFAULT_OPENAI_KEY,
        CONF_OPENAI_BASE_URL: simulator.openai_base_url,
        CONF_TWILIO_BASE_URL: simulator.twilio_base_url,
    }


@pytest.fixture
def sleeper_data() -> dict[str, Any]:
    """Subentry data of one sleeper."""
    return {
        CONF_NAME: "Alice",
        CONF_PHONE_NUMBER: SLEEPER_NUMBER,
        CONF_LANGUAGE: "en-US",
        CONF_VOICE: "Google.en-US-Chirp3-HD-Aoede",
        CONF_REALTIME_VOICE: "marin",
        CONF_WEEKDAYS: ["mon", "tue", "wed", "thu", "fri"],
        CONF_VERIFICATION_ENTITIES: ["binary_sensor.bathroom_motion"],
        CONF_PERSONA_NOTES: "Loves coffee.",
    }


@pytest.fixture
def mock_config_entry(
    account_data: dict[str, Any], sleeper_data: dict[str, Any]
) -> MockConfigEntry:
    """A Wake-up Coach entry with one sleeper."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach …0100",
        unique_id=f"{DEFAULT_ACCOUNT_SID}_{DEFAULT_FROM_NUMBER}",
        entry_id=ENTRY_ID,
        data=account_data,
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


async def until(condition: Callable[[], object], timeout: float = 20) -> None:
    """Wait until `condition()` is true, checking every 10 ms; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@dataclass
class Live:
    """A loaded entry that the simulator can call back: HA's HTTP server listens for real."""

    hass: HomeAssistant
    entry: MockConfigEntry
    simulator: Simulator
    client: TestClient
    base_url: str

    @property
    def sleeper(self) -> Sleeper:
        """The sleeper Alice."""
        return self.entry.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]

    async def wait_dialing(self, timeout: float = 20) -> None:
        """Until the sleeper's call is in progress in Home Assistant."""
        await until(lambda: self.sleeper.call_in_progress, timeout)

    async def wait_idle(self, timeout: float = 20) -> None:
        """Until the sleeper's call has ended in Home Assistant."""
        await until(
            lambda: (
                not (
                    self.sleeper.call_in_progress
                    or self.entry.runtime_data.calls.calls_of()
                )
            ),
            timeout,
        )


PROOF_ENTITY = "binary_sensor.bathroom_motion"


@pytest.fixture
async def live(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_client_no_auth: Any,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Live:
    """The entry, reachable by the simulated Twilio, and a sleeper whose proof is a motion sensor."""
    client = await hass_client_no_auth()
    base_url = f"http://127.0.0.1:{client.server.port}"
    await hass.config.async_update(external_url=base_url)
    monkeypatch.setattr(dialer, "RETRY_DELAYS", (0.01, 0.02, 0.04))
    monkeypatch.setattr(dialer, "CREATE_CONFIRM_SECONDS", 0.3)
    hass.states.async_set(PROOF_ENTITY, "off", {"friendly_name": "Bathroom motion"})

    async def motion(record: object) -> None:
        hass.states.async_set(PROOF_ENTITY, "on", {"friendly_name": "Bathroom motion"})

    simulator.proof_hooks.append(motion)
    return Live(hass, init_integration, simulator, client, base_url)


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to set up; a platform's tests narrow it to their own."""
    return PLATFORMS


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, platforms: list[Platform]
) -> MockConfigEntry:
    """Set up the entry against the simulator."""
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.wakeup_coach.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    return mock_config_entry
