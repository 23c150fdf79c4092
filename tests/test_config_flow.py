"""The config flow, options flow and sleeper subentry flow, against the simulator."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY, patch

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import area_registry as ar, device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach import config_flow
from custom_components.wakeup_coach.const import (
    CONF_ACCOUNT_SID,
    CONF_ADVANCED,
    CONF_AREA,
    CONF_AUTH_TOKEN,
    CONF_CHAT_MODEL,
    CONF_FROM_NUMBER,
    CONF_LANGUAGE,
    CONF_LIVE_MODEL,
    CONF_MAGIC_WORDS,
    CONF_MAX_CALL_MINUTES,
    CONF_NAME,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_PHONE_NUMBER,
    CONF_REALTIME_ENGINE,
    CONF_REALTIME_MODEL,
    CONF_REDIAL_ATTEMPTS,
    CONF_REDIAL_DELAY,
    CONF_RING_TIMEOUT,
    CONF_TWILIO_BASE_URL,
    CONF_VOICE,
    CONF_WEEKDAYS,
    DOMAIN,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.entity import async_sleeper_device
from simulator import openai_api
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)
from simulator.server import Simulator

from .conftest import CLOSED_PORT_URL, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID


def user_input(account_data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What a user types in the first step for the simulator's account, with `changes` applied."""
    values = {**account_data, **changes}
    advanced = {
        key: values.pop(key) for key in (CONF_OPENAI_BASE_URL, CONF_TWILIO_BASE_URL)
    }
    return {**values, CONF_ADVANCED: advanced}


async def test_user_creates_entry(
    hass: HomeAssistant, simulator: Simulator, account_data: dict[str, Any]
) -> None:
    """Valid accounts create an entry with flat data, after live checks of both services."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {}

    # Pasted with stray spaces: what is stored is what was checked.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        user_input(
            account_data,
            **{
                CONF_FROM_NUMBER: "+1 (555) 010-0100",
                CONF_ACCOUNT_SID: f" {DEFAULT_ACCOUNT_SID}",
                CONF_AUTH_TOKEN: f"{DEFAULT_AUTH_TOKEN} ",
                CONF_OPENAI_API_KEY: f" {DEFAULT_OPENAI_KEY}\n",
            },
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Wake-up Coach …0100"
    assert result["data"] == {
        CONF_ACCOUNT_SID: DEFAULT_ACCOUNT_SID,
        CONF_AUTH_TOKEN: DEFAULT_AUTH_TOKEN,
        CONF_FROM_NUMBER: DEFAULT_FROM_NUMBER,
        CONF_OPENAI_API_KEY: DEFAULT_OPENAI_KEY,
        CONF_OPENAI_BASE_URL: simulator.openai_base_url,
        CONF_TWILIO_BASE_URL: simulator.twilio_base_url,
    }
    assert result["result"].unique_id == f"{DEFAULT_ACCOUNT_SID}_{DEFAULT_FROM_NUMBER}"
    # Both services were asked, over real HTTP.
    assert simulator.recorder.requests_to("twilio", f"{DEFAULT_ACCOUNT_SID}.json")
    assert simulator.recorder.requests_to("twilio", "IncomingPhoneNumbers.json")
    assert simulator.recorder.requests_to("openai", "/v1/models")


async def test_user_accepts_verified_caller_id(
    hass: HomeAssistant, simulator: Simulator, account_data: dict[str, Any]
) -> None:
    """A verified caller ID is as good as a Twilio number."""
    simulator.world.twilio_accounts[0].verified_caller_ids.append("+15550100222")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        user_input(account_data, **{CONF_FROM_NUMBER: "+15550100222"}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert simulator.recorder.requests_to("twilio", "OutgoingCallerIds.json")


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_AUTH_TOKEN: "wrong"}, {CONF_AUTH_TOKEN: "twilio_invalid_auth"}),
        (
            {CONF_ACCOUNT_SID: "AC" + "9" * 32},
            {CONF_AUTH_TOKEN: "twilio_invalid_auth"},
        ),
        ({CONF_FROM_NUMBER: "+15550100999"}, {CONF_FROM_NUMBER: "invalid_number"}),
        ({CONF_FROM_NUMBER: "5550100100"}, {CONF_FROM_NUMBER: "invalid_phone_format"}),
        (
            {CONF_OPENAI_API_KEY: "sk-wrong-key-1234"},
            {CONF_OPENAI_API_KEY: "openai_invalid_auth"},
        ),
        ({CONF_OPENAI_BASE_URL: CLOSED_PORT_URL}, {"base": "openai_cannot_connect"}),
        ({CONF_TWILIO_BASE_URL: CLOSED_PORT_URL}, {"base": "twilio_cannot_connect"}),
        ({CONF_TWILIO_BASE_URL: "ftp://example"}, {"base": "invalid_base_url"}),
        (
            {CONF_AUTH_TOKEN: "wrong", CONF_OPENAI_API_KEY: "sk-wrong-key-1234"},
            {
                CONF_AUTH_TOKEN: "twilio_invalid_auth",
                CONF_OPENAI_API_KEY: "openai_invalid_auth",
            },
        ),
    ],
)
async def test_user_errors_then_recovers(
    hass: HomeAssistant,
    simulator: Simulator,
    account_data: dict[str, Any],
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Each failure shows its own error; fixing the input creates the entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(account_data, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(account_data)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("service", "match", "errors"),
    [
        ("twilio", "IncomingPhoneNumbers", {"base": "twilio_cannot_connect"}),
        ("twilio", f"{DEFAULT_ACCOUNT_SID}.json", {"base": "twilio_cannot_connect"}),
        ("openai", "/v1/models", {"base": "openai_cannot_connect"}),
    ],
)
async def test_user_server_errors(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    account_data: dict[str, Any],
    service: str,
    match: str,
    errors: dict[str, str],
) -> None:
    """A 5xx from either service is "cannot connect", not a credential problem."""
    simulator.fail(service, match, status=503)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(account_data)
    )
    assert result["errors"] == errors


async def test_user_duplicate_aborts(
    hass: HomeAssistant,
    simulator: Simulator,
    account_data: dict[str, Any],
    mock_config_entry: MockConfigEntry,
) -> None:
    """The same account and number cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(account_data)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_new_token(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """A rotated Twilio token: setup fails, reauth takes the new one and reloads."""
    account = simulator.world.twilio_accounts[0]
    account.auth_token = "rotated-token"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR

    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_AUTH_TOKEN: "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_AUTH_TOKEN: "twilio_invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_AUTH_TOKEN: "rotated-token", CONF_OPENAI_API_KEY: ""}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert mock_config_entry.data[CONF_AUTH_TOKEN] == "rotated-token"
    assert mock_config_entry.data[CONF_OPENAI_API_KEY] == DEFAULT_OPENAI_KEY
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reauth_of_loaded_entry_reloads_through_listener(
    hass: HomeAssistant, simulator: Simulator, init_integration: MockConfigEntry
) -> None:
    """A loaded entry picks up a new OpenAI key through its update listener."""
    simulator.world.openai_keys.append("sk-new-key-5678")
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPENAI_API_KEY: "sk-new-key-5678"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert init_integration.data[CONF_OPENAI_API_KEY] == "sk-new-key-5678"
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure(
    hass: HomeAssistant, simulator: Simulator, init_integration: MockConfigEntry
) -> None:
    """A new caller-ID number updates the data, the unique ID and the title."""
    simulator.world.twilio_accounts[0].incoming_numbers.append("+15550100333")
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_FROM_NUMBER: "+15550100444",
            CONF_ADVANCED: {
                CONF_OPENAI_BASE_URL: simulator.openai_base_url,
                CONF_TWILIO_BASE_URL: simulator.twilio_base_url,
            },
        },
    )
    assert result["errors"] == {CONF_FROM_NUMBER: "invalid_number"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_FROM_NUMBER: "+15550100333",
            CONF_AUTH_TOKEN: "",
            CONF_ADVANCED: {
                CONF_OPENAI_BASE_URL: simulator.openai_base_url,
                CONF_TWILIO_BASE_URL: simulator.twilio_base_url,
            },
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.data[CONF_FROM_NUMBER] == "+15550100333"
    assert init_integration.data[CONF_AUTH_TOKEN] == DEFAULT_AUTH_TOKEN
    assert init_integration.unique_id == f"{DEFAULT_ACCOUNT_SID}_+15550100333"
    assert init_integration.title == "Wake-up Coach …0333"
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_to_existing_entry_aborts(
    hass: HomeAssistant, simulator: Simulator, init_integration: MockConfigEntry
) -> None:
    """Reconfiguring onto another entry's account and number is refused."""
    simulator.world.twilio_accounts[0].incoming_numbers.append("+15550100333")
    MockConfigEntry(
        domain=DOMAIN, unique_id=f"{DEFAULT_ACCOUNT_SID}_+15550100333"
    ).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_FROM_NUMBER: "+15550100333",
            CONF_ADVANCED: {
                CONF_OPENAI_BASE_URL: simulator.openai_base_url,
                CONF_TWILIO_BASE_URL: simulator.twilio_base_url,
            },
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.data[CONF_FROM_NUMBER] == DEFAULT_FROM_NUMBER


async def test_options(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Options are stored, magic words trimmed of blanks."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_CHAT_MODEL: "gpt-4o-mini",
            CONF_REALTIME_ENGINE: "realtime",
            CONF_REALTIME_MODEL: "gpt-realtime-mini",
            CONF_LIVE_MODEL: "gpt-live-1",
            CONF_MAX_CALL_MINUTES: 5.0,
            CONF_RING_TIMEOUT: 25,
            CONF_REDIAL_DELAY: 90,
            CONF_REDIAL_ATTEMPTS: 2,
            CONF_MAGIC_WORDS: [" Goodbye ", "", "I'm up"],
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        CONF_CHAT_MODEL: "gpt-4o-mini",
        CONF_REALTIME_ENGINE: "realtime",
        CONF_REALTIME_MODEL: "gpt-realtime-mini",
        CONF_LIVE_MODEL: "gpt-live-1",
        CONF_MAX_CALL_MINUTES: 5,
        CONF_RING_TIMEOUT: 25,
        CONF_REDIAL_DELAY: 90,
        CONF_REDIAL_ATTEMPTS: 2,
        CONF_MAGIC_WORDS: ["Goodbye", "I'm up"],
        "catch_up_minutes": 10,
        # Live calls over SIP: not chosen, but the webhook's URL is kept from now on.
        "realtime_transport": "media_stream",
        "sip_webhook_id": ANY,
        "sip_cloudhook": False,
    }
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED


def options_input(**changes: Any) -> dict[str, Any]:
    """A complete options form."""
    return {
        CONF_CHAT_MODEL: "gpt-4.1-mini",
        CONF_REALTIME_ENGINE: "realtime",
        CONF_REALTIME_MODEL: "gpt-realtime-2",
        CONF_LIVE_MODEL: "gpt-live-1",
        CONF_MAX_CALL_MINUTES: 10,
        CONF_RING_TIMEOUT: 30,
        CONF_REDIAL_DELAY: 120,
        CONF_REDIAL_ATTEMPTS: 3,
        **changes,
    }


def engine_choices(result: Any) -> list[str]:
    """The engines the options form offers."""
    for key, selector in result["data_schema"].schema.items():
        if key == CONF_REALTIME_ENGINE:
            return list(selector.config["options"])
    raise AssertionError("no engine field")


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_CHAT_MODEL: "gpt-9-turbo"}, {CONF_CHAT_MODEL: "model_not_found"}),
        (
            {CONF_REALTIME_MODEL: "gpt-realtime-9"},
            {CONF_REALTIME_MODEL: "model_not_found"},
        ),
        # A chat model where the realtime engine's model belongs.
        (
            {CONF_REALTIME_MODEL: "gpt-4.1-mini"},
            {CONF_REALTIME_MODEL: "model_not_found"},
        ),
        (
            {CONF_REALTIME_ENGINE: "live", CONF_LIVE_MODEL: "gpt-live-7"},
            {CONF_LIVE_MODEL: "model_not_found"},
        ),
    ],
)
async def test_options_check_model_names(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """A model the account does not have is refused on its field; nothing is stored."""
    monkeypatch.setattr(
        openai_api, "MODELS", (*openai_api.MODELS, "gpt-live-1", "gpt-live-1.1")
    )
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert engine_choices(result) == ["realtime", "live"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input(**changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert init_integration.options == {}


async def test_options_offer_only_engines_the_account_has(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a GPT-Live model, only the Realtime API engine is offered."""
    monkeypatch.setattr(
        openai_api,
        "MODELS",
        tuple(m for m in openai_api.MODELS if not m.startswith("gpt-live")),
    )
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert engine_choices(result) == ["realtime"]


async def test_options_without_openai_keep_names_unchecked(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """OpenAI down: both engines are offered and names are stored unchecked."""
    simulator.fail("openai", "/v1/models", status=500, times=2)
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert engine_choices(result) == ["realtime", "live"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input(**{CONF_CHAT_MODEL: "my-own-model"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_CHAT_MODEL] == "my-own-model"


async def test_options_unexpected_error(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug while listing models shows "unknown" instead of a broken form."""

    async def broken(client: object) -> set[str]:
        raise RuntimeError("bug")

    monkeypatch.setattr(config_flow, "async_list_models", broken)
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["errors"] == {"base": "unknown"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input()
    )
    assert result["errors"] == {"base": "unknown"}
    assert init_integration.options == {}


@pytest.mark.parametrize("source", [SOURCE_USER, "reauth", SOURCE_RECONFIGURE])
async def test_unexpected_error_while_checking(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    account_data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """A bug in the live check shows "unknown" on every account form; nothing is stored."""

    async def broken(self: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(config_flow.TwilioRestClient, "async_get_account", broken)
    before = dict(init_integration.data)
    if source == SOURCE_USER:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        form = user_input(account_data, **{CONF_FROM_NUMBER: "+15550100100"})
    elif source == "reauth":
        result = await init_integration.start_reauth_flow(hass)
        form = {CONF_AUTH_TOKEN: "new-token"}
    else:
        result = await init_integration.start_reconfigure_flow(hass)
        form = {
            CONF_FROM_NUMBER: DEFAULT_FROM_NUMBER,
            CONF_ADVANCED: {
                CONF_OPENAI_BASE_URL: account_data[CONF_OPENAI_BASE_URL],
                CONF_TWILIO_BASE_URL: account_data[CONF_TWILIO_BASE_URL],
            },
        }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    assert dict(init_integration.data) == before


async def test_sleeper_number_of_another_entry_is_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sleeper_data: dict[str, Any],
) -> None:
    """One phone, two entries: both would call it at once, so the second is refused."""
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="AC-other_+15550100101",
        data=dict(init_integration.data),
    )
    other.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (other.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], sleeper_input(**{CONF_PHONE_NUMBER: SLEEPER_NUMBER})
    )
    assert result["errors"] == {CONF_PHONE_NUMBER: "phone_already_configured"}


def sleeper_input(**changes: Any) -> dict[str, Any]:
    """What a user types to add a sleeper."""
    return {
        CONF_NAME: "Bob",
        CONF_PHONE_NUMBER: "+44 20 7946 0000",
        CONF_WEEKDAYS: ["sat", "sun"],
        **changes,
    }


async def test_add_sleeper(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A second sleeper gets its own subentry and, after the reload, its device."""
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], sleeper_input(**{CONF_PHONE_NUMBER: SLEEPER_NUMBER})
    )
    assert result["errors"] == {CONF_PHONE_NUMBER: "phone_already_configured"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        sleeper_input(
            **{CONF_PHONE_NUMBER: "020 7946", CONF_NAME: " ", CONF_WEEKDAYS: []}
        ),
    )
    assert result["errors"] == {
        CONF_PHONE_NUMBER: "invalid_phone_format",
        CONF_NAME: "name_required",
        CONF_WEEKDAYS: "no_weekdays",
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], sleeper_input()
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    subentry = next(s for s in init_integration.subentries.values() if s.title == "Bob")
    assert subentry.unique_id == "+442079460000"
    assert subentry.data[CONF_PHONE_NUMBER] == "+442079460000"
    sleepers = init_integration.runtime_data.sleepers
    assert sleepers[subentry.subentry_id].config.weekdays == ("sat", "sun")


async def test_reconfigure_sleeper(
    hass: HomeAssistant, init_integration: MockConfigEntry, sleeper_data: dict[str, Any]
) -> None:
    """A sleeper keeps its own number when renamed; the entry reloads with the change."""
    # MockConfigEntry's helper for this changed signature between HA versions.
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SLEEPER_SUBENTRY_ID},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**sleeper_data, CONF_WEEKDAYS: []}
    )
    assert result["errors"] == {CONF_WEEKDAYS: "no_weekdays"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**sleeper_data, CONF_NAME: "Alice B."}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.subentries[SLEEPER_SUBENTRY_ID].title == "Alice B."
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    assert sleeper.config.name == "Alice B."


def advanced_collapsed(result: Any) -> bool:
    """Whether the form's Advanced section is folded away."""
    markers = {
        str(marker): value for marker, value in result["data_schema"].schema.items()
    }
    return bool(markers[CONF_ADVANCED].options["collapsed"])


async def test_advanced_section_starts_collapsed(hass: HomeAssistant) -> None:
    """A new user sees the Advanced section folded away."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert advanced_collapsed(result)


async def test_advanced_section_stays_open_after_an_error(
    hass: HomeAssistant, account_data: dict[str, Any]
) -> None:
    """After an error, the form keeps the base URLs the user changed in view."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(account_data, **{CONF_AUTH_TOKEN: "wrong"})
    )
    assert result["errors"] == {CONF_AUTH_TOKEN: "twilio_invalid_auth"}
    assert not advanced_collapsed(result)


async def test_advanced_section_opens_on_a_base_error(
    hass: HomeAssistant, account_data: dict[str, Any]
) -> None:
    """A service that cannot be reached may be a base URL's fault: the section opens."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        user_input(
            account_data,
            **{
                CONF_OPENAI_BASE_URL: config_flow.DEFAULT_OPENAI_BASE_URL,
                CONF_TWILIO_BASE_URL: "ftp://example",
            },
        ),
    )
    assert result["errors"] == {"base": "invalid_base_url"}
    assert not advanced_collapsed(result)


async def test_advanced_section_collapsed_after_a_field_error_with_defaults(
    hass: HomeAssistant, account_data: dict[str, Any]
) -> None:
    """A field error with the default base URLs keeps the section folded."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    with patch.object(
        config_flow,
        "async_validate_account",
        return_value={CONF_FROM_NUMBER: "invalid_phone_format"},
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            user_input(
                account_data,
                **{
                    CONF_FROM_NUMBER: "12",
                    CONF_OPENAI_BASE_URL: config_flow.DEFAULT_OPENAI_BASE_URL,
                    CONF_TWILIO_BASE_URL: config_flow.DEFAULT_TWILIO_BASE_URL,
                },
            ),
        )
    assert result["errors"] == {CONF_FROM_NUMBER: "invalid_phone_format"}
    assert advanced_collapsed(result)


async def test_reconfigure_shows_custom_base_urls(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An entry pointed at other base URLs (here the simulator) shows them at once."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert not advanced_collapsed(result)


async def test_sleeper_voice_must_speak_the_language(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A German sleeper with an English voice is refused, naming a German voice."""
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        sleeper_input(
            **{CONF_LANGUAGE: "de-DE", CONF_VOICE: "Google.en-US-Chirp3-HD-Aoede"}
        ),
    )
    assert (result["errors"], result["description_placeholders"]) == (
        {CONF_VOICE: "voice_language_mismatch"},
        {
            "language": "de-DE",
            "voice_language": "en-US",
            "example_voice": "Google.de-DE-Chirp3-HD-Aoede",
        },
    )


async def test_sleeper_voice_of_the_language_is_accepted(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A Polly voice of the chosen language is stored as typed, without spaces."""
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        sleeper_input(**{CONF_LANGUAGE: "de-DE", CONF_VOICE: " Polly.Vicki-Neural "}),
    )
    await hass.async_block_till_done()
    assert result["data"][CONF_VOICE] == "Polly.Vicki-Neural"


async def test_sleeper_language_outside_the_list_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """New sleepers choose from the offered languages."""
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    with pytest.raises(InvalidData):
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], sleeper_input(**{CONF_LANGUAGE: "xx-YY"})
        )


@pytest.mark.parametrize(
    "sleeper_data",
    [
        {
            CONF_NAME: "Aoife",
            CONF_PHONE_NUMBER: SLEEPER_NUMBER,
            CONF_LANGUAGE: "ga-IE",
            CONF_VOICE: "alice",
            CONF_WEEKDAYS: ["mon"],
        }
    ],
)
async def test_reconfigure_keeps_a_language_outside_the_list(
    hass: HomeAssistant, init_integration: MockConfigEntry, sleeper_data: dict[str, Any]
) -> None:
    """A sleeper stored with a code the list lacks can still be changed."""
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SLEEPER_SUBENTRY_ID},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**sleeper_data, CONF_NAME: "Aoife B."}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"


async def test_new_sleeper_device_is_put_in_the_area(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    area_registry: ar.AreaRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The area chosen in the sleeper form is where the new device appears."""
    bedroom = area_registry.async_create("Bedroom")
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], sleeper_input(**{CONF_AREA: bedroom.id})
    )
    await hass.async_block_till_done()
    subentry = next(s for s in init_integration.subentries.values() if s.title == "Bob")
    device = async_sleeper_device(hass, init_integration.entry_id, subentry.subentry_id)
    assert device is not None
    assert (device.area_id, device.entry_type) == (bedroom.id, None)


@pytest.mark.parametrize(
    "sleeper_data",
    [
        {
            CONF_NAME: "Alice",
            CONF_PHONE_NUMBER: SLEEPER_NUMBER,
            CONF_WEEKDAYS: ["mon"],
            CONF_AREA: "attic_removed_since",
        }
    ],
)
async def test_sleeper_area_that_was_deleted_is_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An area removed before the device was made leaves the device without one."""
    device = async_sleeper_device(hass, init_integration.entry_id, SLEEPER_SUBENTRY_ID)
    assert device is not None
    assert device.area_id is None


async def test_existing_sleeper_device_is_not_moved_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    area_registry: ar.AreaRegistry,
    device_registry: dr.DeviceRegistry,
    sleeper_data: dict[str, Any],
) -> None:
    """Once the device exists, the device page decides its area, also across reloads."""
    bedroom = area_registry.async_create("Bedroom")
    kitchen = area_registry.async_create("Kitchen")
    subentry = init_integration.subentries[SLEEPER_SUBENTRY_ID]
    hass.config_entries.async_update_subentry(
        init_integration, subentry, data={**sleeper_data, CONF_AREA: bedroom.id}
    )
    device = async_sleeper_device(hass, init_integration.entry_id, SLEEPER_SUBENTRY_ID)
    assert device is not None
    device_registry.async_update_device(device.id, area_id=kitchen.id)
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert device_registry.async_get(device.id).area_id == kitchen.id


async def test_reconfigure_sleeper_moves_the_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    area_registry: ar.AreaRegistry,
    device_registry: dr.DeviceRegistry,
    sleeper_data: dict[str, Any],
) -> None:
    """The form shows the device's area now, and a new one moves the device."""
    kitchen = area_registry.async_create("Kitchen")
    bedroom = area_registry.async_create("Bedroom")
    device = async_sleeper_device(hass, init_integration.entry_id, SLEEPER_SUBENTRY_ID)
    assert device is not None
    device_registry.async_update_device(device.id, area_id=kitchen.id)
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SLEEPER_SUBENTRY_ID},
    )
    suggested = {
        str(marker): (marker.description or {}).get("suggested_value")
        for marker in result["data_schema"].schema
    }
    assert suggested[CONF_AREA] == kitchen.id
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**sleeper_data, CONF_AREA: bedroom.id}
    )
    await hass.async_block_till_done()
    assert device_registry.async_get(device.id).area_id == bedroom.id


async def test_reconfigure_sleeper_without_a_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    sleeper_data: dict[str, Any],
) -> None:
    """A sleeper whose device was removed can still be changed."""
    device = async_sleeper_device(hass, init_integration.entry_id, SLEEPER_SUBENTRY_ID)
    assert device is not None
    device_registry.async_remove_device(device.id)
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_SLEEPER),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SLEEPER_SUBENTRY_ID},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**sleeper_data, CONF_NAME: "Alice C."}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
