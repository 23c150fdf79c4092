"""Actions: call, hang up, confirm awake, snooze, skip next."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr

from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_ENGINE,
    ATTR_IN_MINUTES,
    ATTR_INSTRUCTIONS,
    ATTR_MINUTES,
    ATTR_MODE,
    ATTR_SLEEPER,
    ATTR_TRANSPORT,
    ATTR_UNDO,
    DOMAIN,
    SERVICE_CALL,
    SERVICE_CONFIRM_AWAKE,
    SERVICE_HANG_UP,
    SERVICE_SELF_TEST,
    SERVICE_SKIP_NEXT,
    SERVICE_SNOOZE,
    SERVICE_TEST_CALL,
)
from .data import WakeupCoachConfigEntry, WakeupCoachData
from .models import CallMode, EngineKind, RealtimeTransport
from .scheduler import MAX_SNOOZE_MINUTES
from .schema import vol
from .sleeper import Sleeper
from .testcall import async_test_call

TARGET_SCHEMA = {
    vol.Optional(ATTR_SLEEPER): cv.string,
    vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
}
# A one-off call at most a day ahead.
MAX_CALL_IN_MINUTES = 24 * 60
SCHEMAS: dict[str, vol.Schema] = {
    SERVICE_CALL: vol.Schema(
        {
            **TARGET_SCHEMA,
            vol.Optional(ATTR_MODE, default=CallMode.AUTO): vol.Coerce(CallMode),
            vol.Optional(ATTR_ENGINE): vol.Coerce(EngineKind),
            vol.Optional(ATTR_TRANSPORT): vol.Coerce(RealtimeTransport),
            vol.Optional(ATTR_INSTRUCTIONS): cv.string,
            vol.Optional(ATTR_IN_MINUTES): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=MAX_CALL_IN_MINUTES)
            ),
        }
    ),
    SERVICE_HANG_UP: vol.Schema(TARGET_SCHEMA),
    SERVICE_CONFIRM_AWAKE: vol.Schema(TARGET_SCHEMA),
    SERVICE_SNOOZE: vol.Schema(
        {
            **TARGET_SCHEMA,
            vol.Optional(ATTR_MINUTES, default=9): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=MAX_SNOOZE_MINUTES)
            ),
        }
    ),
    SERVICE_SKIP_NEXT: vol.Schema(
        {**TARGET_SCHEMA, vol.Optional(ATTR_UNDO, default=False): cv.boolean}
    ),
    SERVICE_SELF_TEST: vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}),
    SERVICE_TEST_CALL: vol.Schema(
        {**TARGET_SCHEMA, vol.Optional(ATTR_ENGINE): vol.Coerce(EngineKind)}
    ),
}


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _loaded_entries(hass: HomeAssistant) -> list[WakeupCoachConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


@callback
def async_resolve_sleeper(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[WakeupCoachData, Sleeper]:
    """The sleeper an action is for, and the runtime data of its entry.

    The sleeper is a sleeper device, or the only sleeper of an entry (or of all).
    """
    if device_id := call.data.get(ATTR_SLEEPER):
        device = dr.async_get(hass).async_get(device_id)
        subentry_ids = {
            identifier
            for domain, identifier in (device.identifiers if device else ())
            if domain == DOMAIN
        }
        if not subentry_ids:
            raise _error("sleeper_not_found", sleeper=device_id)
        for entry in _loaded_entries(hass):
            for subentry_id in subentry_ids:
                if sleeper := entry.runtime_data.sleepers.get(subentry_id):
                    return entry.runtime_data, sleeper
        raise _error("entry_not_loaded")

    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        target: WakeupCoachConfigEntry | None = hass.config_entries.async_get_entry(
            entry_id
        )
        if target is None or target.domain != DOMAIN:
            raise _error("entry_not_found", config_entry_id=entry_id)
        if target.state is not ConfigEntryState.LOADED:
            raise _error("entry_not_loaded")
        entries = [target]
    else:
        entries = _loaded_entries(hass)
    candidates = [
        (entry.runtime_data, sleeper)
        for entry in entries
        for sleeper in entry.runtime_data.sleepers.values()
    ]
    if len(candidates) == 1:
        return candidates[0]
    raise _error("no_sleepers" if not candidates else "sleeper_required")


async def _async_call(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    data, sleeper = async_resolve_sleeper(hass, call)
    if (minutes := call.data.get(ATTR_IN_MINUTES)) is not None:
        at = data.alarms[sleeper.subentry_id].call_in(minutes)
        return {"scheduled_at": at.isoformat()}
    session = await data.async_call_now(
        sleeper,
        call.data[ATTR_MODE],
        call.data.get(ATTR_INSTRUCTIONS),
        call.data.get(ATTR_ENGINE),
        transport=call.data.get(ATTR_TRANSPORT),
    )
    # Automations can follow this call's events by its id.
    return {
        "call_id": session.call_id,
        "mode": str(session.mode),
        "engine": str(session.engine) if session.engine else None,
        "transport": str(session.transport) if session.transport else None,
    }


async def _async_hang_up(hass: HomeAssistant, call: ServiceCall) -> None:
    data, sleeper = async_resolve_sleeper(hass, call)
    data.alarms[sleeper.subentry_id].stop_ladder("hung up by hand")
    await data.calls.async_hang_up(sleeper)


async def _async_confirm_awake(hass: HomeAssistant, call: ServiceCall) -> None:
    data, sleeper = async_resolve_sleeper(hass, call)
    data.calls.confirm_awake(sleeper)
    data.alarms[sleeper.subentry_id].stop_ladder("confirmed awake")


async def _async_snooze(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    data, sleeper = async_resolve_sleeper(hass, call)
    at = await data.alarms[sleeper.subentry_id].async_snooze(call.data[ATTR_MINUTES])
    return {"scheduled_at": at.isoformat()}


async def _async_skip_next(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    data, sleeper = async_resolve_sleeper(hass, call)
    alarm = data.alarms[sleeper.subentry_id]
    if call.data[ATTR_UNDO]:
        alarm.undo_skip()
        return {"skipped": None}
    return {"skipped": alarm.skip_next().isoformat()}


@callback
def async_resolve_entry(hass: HomeAssistant, call: ServiceCall) -> WakeupCoachData:
    """The entry an account-wide action is for: the one named, or the only one loaded."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        target: WakeupCoachConfigEntry | None = hass.config_entries.async_get_entry(
            entry_id
        )
        if target is None or target.domain != DOMAIN:
            raise _error("entry_not_found", config_entry_id=entry_id)
        if target.state is not ConfigEntryState.LOADED:
            raise _error("entry_not_loaded")
        return target.runtime_data
    entries = _loaded_entries(hass)
    if len(entries) == 1:
        return entries[0].runtime_data
    raise _error("entry_required" if entries else "entry_not_loaded")


async def _async_self_test(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    result = await async_resolve_entry(hass, call).selftest.async_run()
    return result.as_dict()


async def _async_test_call(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    data, sleeper = async_resolve_sleeper(hass, call)
    return await async_test_call(data.calls, sleeper, call.data.get(ATTR_ENGINE))


type Handler = Callable[
    [HomeAssistant, ServiceCall], Coroutine[Any, Any, ServiceResponse | None]
]
HANDLERS: dict[str, Handler] = {
    SERVICE_CALL: _async_call,
    SERVICE_HANG_UP: _async_hang_up,
    SERVICE_CONFIRM_AWAKE: _async_confirm_awake,
    SERVICE_SNOOZE: _async_snooze,
    SERVICE_SKIP_NEXT: _async_skip_next,
    SERVICE_SELF_TEST: _async_self_test,
    SERVICE_TEST_CALL: _async_test_call,
}
# Actions that answer with what they did (the call's id, the time scheduled).
WITH_RESPONSE = {
    SERVICE_CALL,
    SERVICE_SNOOZE,
    SERVICE_SKIP_NEXT,
    SERVICE_SELF_TEST,
    SERVICE_TEST_CALL,
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action once, in async_setup."""
    for name, handler in HANDLERS.items():
        hass.services.async_register(
            DOMAIN,
            name,
            partial(handler, hass),
            schema=SCHEMAS[name],
            supports_response=(
                SupportsResponse.OPTIONAL
                if name in WITH_RESPONSE
                else SupportsResponse.NONE
            ),
        )
