"""The integration's actions: which sleeper they reach, and how they refuse."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.wakeup_coach.const import (
    DOMAIN,
    SERVICE_CALL,
    SERVICE_CONFIRM_AWAKE,
    SERVICE_HANG_UP,
    SERVICE_SELF_TEST,
    SERVICE_SKIP_NEXT,
    SERVICE_SNOOZE,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.schema import vol
from simulator.sleepers import SCRIPTS

from .conftest import ENTRY_ID, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID, Live

BOB_NUMBER = "+15550100222"
BOB_SUBENTRY_ID = "01JSLEEPERBOB00000000000000"


def alice_device_id(device_registry: dr.DeviceRegistry) -> str:
    """The device id of the sleeper Alice."""
    # async_get_device(identifiers=) is deprecated in HA 2026; this works in both.
    return next(
        device.id
        for device in dr.async_entries_for_config_entry(device_registry, ENTRY_ID)
        if (DOMAIN, SLEEPER_SUBENTRY_ID) in device.identifiers
    )


async def test_actions_registered_without_entries(hass: HomeAssistant) -> None:
    """Actions exist as soon as the integration is set up, even with no entry."""
    assert await async_setup_component(hass, DOMAIN, {})
    for service in (
        SERVICE_CALL,
        SERVICE_HANG_UP,
        SERVICE_CONFIRM_AWAKE,
        SERVICE_SNOOZE,
        SERVICE_SKIP_NEXT,
    ):
        assert hass.services.has_service(DOMAIN, service)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert err.value.translation_key == "no_sleepers"


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        (SERVICE_SNOOZE, {"minutes": 5}, "nothing_to_snooze"),
        (SERVICE_SKIP_NEXT, {}, "no_alarm_to_skip"),
    ],
)
@pytest.mark.usefixtures("init_integration")
async def test_nothing_to_snooze_or_skip(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    service: str,
    data: dict[str, Any],
    key: str,
) -> None:
    """Snooze without a call, skip with the alarm off: a clear error, nothing scheduled."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            service,
            {"sleeper": alice_device_id(device_registry), **data},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == {"sleeper": "Alice"}
    next_alarm = hass.states.get("sensor.alice_next_alarm")
    assert next_alarm is not None
    assert next_alarm.state == "unknown"


@pytest.mark.parametrize("minutes", [0, 61])
@pytest.mark.usefixtures("init_integration")
async def test_snooze_is_bounded(hass: HomeAssistant, minutes: int) -> None:
    """Snooze takes 1 to 60 minutes."""
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, SERVICE_SNOOZE, {"minutes": minutes}, blocking=True
        )


async def test_targets(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """A device, an entry with one sleeper, or nothing when there is only one sleeper."""
    for target in (
        {"sleeper": alice_device_id(device_registry)},
        {"config_entry_id": init_integration.entry_id},
        {},
    ):
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                DOMAIN, SERVICE_HANG_UP, target, blocking=True
            )
        # Alice was found: she simply has no call to hang up.
        assert err.value.translation_key == "no_call_in_progress"
        assert err.value.translation_placeholders == {"sleeper": "Alice"}


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ({"sleeper": "no-such-device"}, "sleeper_not_found"),
        ({"config_entry_id": "no-such-entry"}, "entry_not_found"),
    ],
)
@pytest.mark.usefixtures("init_integration")
async def test_unknown_targets(
    hass: HomeAssistant, target: dict[str, str], key: str
) -> None:
    """Unknown devices and entries are validation errors."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_CALL, target, blocking=True)
    assert err.value.translation_key == key


async def test_device_of_another_integration(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """A device that is not a sleeper is refused."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_CALL, {"sleeper": device.id}, blocking=True
        )
    assert err.value.translation_key == "sleeper_not_found"


async def test_unloaded_entry(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """A sleeper of an unloaded entry cannot be called."""
    device_id = alice_device_id(device_registry)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    for target in (
        {"sleeper": device_id},
        {"config_entry_id": init_integration.entry_id},
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, SERVICE_CALL, target, blocking=True)
        assert err.value.translation_key == "entry_not_loaded"


async def test_several_sleepers_need_a_choice(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    sleeper_data: dict[str, Any],
) -> None:
    """With two sleepers, an entry or no target is ambiguous."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_add_subentry(
        mock_config_entry,
        ConfigSubentry(
            data={**sleeper_data, "name": "Bob", "phone_number": "+15550100222"},
            subentry_type=SUBENTRY_SLEEPER,
            title="Bob",
            unique_id="+15550100222",
        ),
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    for target in ({"config_entry_id": mock_config_entry.entry_id}, {}):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, SERVICE_CALL, target, blocking=True)
        assert err.value.translation_key == "sleeper_required"


async def test_confirm_awake(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """confirm_awake records proof for the sleeper."""
    tracker = init_integration.runtime_data.calls.proof[SLEEPER_SUBENTRY_ID]
    assert tracker.last_proof is None
    await hass.services.async_call(DOMAIN, SERVICE_CONFIRM_AWAKE, {}, blocking=True)
    assert tracker.last_proof is not None


@pytest.mark.usefixtures("init_integration")
async def test_invalid_mode(hass: HomeAssistant) -> None:
    """A mode that does not exist fails schema validation."""
    with pytest.raises(Exception, match="mode"):
        await hass.services.async_call(
            DOMAIN, SERVICE_CALL, {"mode": "telepathy"}, blocking=True
        )


@pytest.mark.usefixtures("init_integration")
async def test_skip_next_and_undo(hass: HomeAssistant) -> None:
    """Skip answers with the date it skipped and moves the next alarm; undo brings it back."""
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.alice_alarm"}, blocking=True
    )
    before = hass.states.get("sensor.alice_next_alarm")
    assert before is not None
    assert before.state not in ("unknown", "unavailable")
    first_alarm = dt_util.parse_datetime(before.state)
    assert first_alarm is not None

    response = await hass.services.async_call(
        DOMAIN, SERVICE_SKIP_NEXT, {}, blocking=True, return_response=True
    )
    assert response == {"skipped": dt_util.as_local(first_alarm).date().isoformat()}
    skipped = hass.states.get("sensor.alice_next_alarm")
    assert skipped is not None
    later = dt_util.parse_datetime(skipped.state)
    assert later is not None
    assert later > first_alarm

    response = await hass.services.async_call(
        DOMAIN, SERVICE_SKIP_NEXT, {"undo": True}, blocking=True, return_response=True
    )
    assert response == {"skipped": None}
    after = hass.states.get("sensor.alice_next_alarm")
    assert after is not None
    assert after.state == before.state


async def second_entry(
    hass: HomeAssistant, account_data: dict[str, Any], sleeper_data: dict[str, Any]
) -> MockConfigEntry:
    """Another account's entry (same simulated account, another number) with Bob."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach …0200",
        unique_id=f"{account_data['account_sid']}_+15550100200",
        data=account_data,
        subentries_data=[
            {
                "data": {**sleeper_data, "name": "Bob", "phone_number": BOB_NUMBER},
                "subentry_id": BOB_SUBENTRY_ID,
                "subentry_type": SUBENTRY_SLEEPER,
                "title": "Bob",
                "unique_id": BOB_NUMBER,
            }
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_sleeper_of_the_second_entry(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    init_integration: MockConfigEntry,
    account_data: dict[str, Any],
    sleeper_data: dict[str, Any],
) -> None:
    """A sleeper device is found in whichever loaded entry holds it."""
    other = await second_entry(hass, account_data, sleeper_data)
    bob = next(
        device.id
        for device in dr.async_entries_for_config_entry(device_registry, other.entry_id)
        if (DOMAIN, BOB_SUBENTRY_ID) in device.identifiers
    )
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_HANG_UP, {"sleeper": bob}, blocking=True
        )
    assert err.value.translation_key == "no_call_in_progress"
    assert err.value.translation_placeholders == {"sleeper": "Bob"}


async def test_self_test_needs_an_entry_when_there_are_several(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    account_data: dict[str, Any],
    sleeper_data: dict[str, Any],
) -> None:
    """With two accounts loaded, the account-wide action must be told which."""
    other = await second_entry(hass, account_data, sleeper_data)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_SELF_TEST, {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "entry_required"
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_SELF_TEST,
        {"config_entry_id": other.entry_id},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    # No external URL in this test: the named entry's own run fails at its first step.
    assert (response["result"], response["failed_step"]) == ("failed", "url")


@pytest.mark.parametrize("entry_id", ["no-such-entry", "of-another-domain"])
@pytest.mark.usefixtures("init_integration")
async def test_self_test_of_an_unknown_entry(
    hass: HomeAssistant, entry_id: str
) -> None:
    """An entry id that is not one of ours is refused, naming the id."""
    MockConfigEntry(domain="other", entry_id="of-another-domain").add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            SERVICE_SELF_TEST,
            {"config_entry_id": entry_id},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "entry_not_found"
    assert err.value.translation_placeholders == {"config_entry_id": entry_id}


async def test_self_test_of_an_unloaded_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An unloaded entry, named or the only one, cannot run the self-test."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    for target in ({"config_entry_id": init_integration.entry_id}, {}):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, SERVICE_SELF_TEST, target, blocking=True, return_response=True
            )
        assert err.value.translation_key == "entry_not_loaded"


async def test_snooze_a_call_that_just_ended(live: Live) -> None:
    """Snooze right after a call placed by hand: it answers when, and rings then."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["hangs_up"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "traditional"}, blocking=True
    )
    await (await placed).done.wait()
    await live.wait_idle()
    response = await live.hass.services.async_call(
        DOMAIN, SERVICE_SNOOZE, {"minutes": 5}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    at = dt_util.parse_datetime(response["scheduled_at"])
    assert at is not None
    assert (
        timedelta(minutes=4) < at - dt_util.utcnow() <= timedelta(minutes=5, seconds=1)
    )
    next_alarm = live.hass.states.get("sensor.alice_next_alarm")
    assert next_alarm is not None
    assert dt_util.parse_datetime(next_alarm.state) == at
    assert next_alarm.attributes["kind"] == "snooze"

    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    async_fire_time_changed(live.hass, at)
    async with asyncio.timeout(10):
        record = await placed
    await record.done.wait()
    await live.wait_idle()
    assert live.entry.runtime_data.calls.history[0]["trigger"] == "snooze"
