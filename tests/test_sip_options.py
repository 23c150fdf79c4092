"""The options of live calls over SIP: the form, its checks, the webhook URL and cloudhook."""

from __future__ import annotations

import json
import sys
import time
from types import ModuleType
from typing import Any

import homeassistant.components
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach.const import (
    CONF_CHAT_MODEL,
    CONF_LIVE_MODEL,
    CONF_MAX_CALL_MINUTES,
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_ENGINE,
    CONF_REALTIME_MODEL,
    CONF_REALTIME_TRANSPORT,
    CONF_REDIAL_ATTEMPTS,
    CONF_REDIAL_DELAY,
    CONF_RING_TIMEOUT,
    CONF_SIP,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
)
from simulator.accounts import DEFAULT_OPENAI_PROJECT, DEFAULT_WEBHOOK_SECRET
from simulator.server import Simulator
from simulator.sip import sign

# An address, not a name: nothing resolves host names in tests.
EXTERNAL_URL = "https://127.0.0.1:9"


def form(transport: str = "sip", **sip: str) -> dict[str, Any]:
    """A complete options form."""
    return {
        CONF_CHAT_MODEL: "gpt-4.1-mini",
        CONF_REALTIME_ENGINE: "realtime",
        CONF_REALTIME_MODEL: "gpt-realtime-2",
        CONF_LIVE_MODEL: "gpt-live-1",
        CONF_REALTIME_TRANSPORT: transport,
        CONF_SIP: sip,
        CONF_MAX_CALL_MINUTES: 10,
        CONF_RING_TIMEOUT: 30,
        CONF_REDIAL_DELAY: 120,
        CONF_REDIAL_ATTEMPTS: 3,
    }


SIP = {
    CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT,
    CONF_WEBHOOK_SECRET: DEFAULT_WEBHOOK_SECRET,
}


@pytest.fixture
async def external_url(hass: HomeAssistant) -> str:
    """Home Assistant has an external URL (OpenAI can reach its webhook)."""
    await hass.config.async_update(external_url=EXTERNAL_URL)
    return EXTERNAL_URL


def suggested(schema: Any) -> dict[str, Any]:
    """The values a form suggests, by field (sections nested)."""
    values: dict[str, Any] = {}
    for key, field in schema.schema.items():
        if isinstance(field, section):
            values[str(key)] = suggested(field.schema)
        elif (value := (key.description or {}).get("suggested_value")) is not None:
            values[str(key)] = value
    return values


@pytest.mark.usefixtures("external_url")
async def test_sip_options_are_stored_and_the_webhook_listens(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_client_no_auth: Any,
) -> None:
    """SIP set up: the URL shown is the webhook's; once stored, the webhook listens."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    url = result["description_placeholders"]["webhook_url"]
    assert url.startswith(f"{EXTERNAL_URL}/api/webhook/")
    webhook_id = url.rsplit("/", 1)[1]
    assert len(webhook_id) == 64
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form(**SIP)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    options = init_integration.options
    assert options[CONF_REALTIME_TRANSPORT] == "sip"
    assert options[CONF_OPENAI_PROJECT_ID] == DEFAULT_OPENAI_PROJECT
    assert options[CONF_WEBHOOK_SECRET] == DEFAULT_WEBHOOK_SECRET
    assert options[CONF_SIP_WEBHOOK_ID] == webhook_id
    assert CONF_SIP not in options
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED

    # OpenAI's signed webhook for a call nobody placed is rejected through its API.
    body = json.dumps(
        {
            "type": "realtime.call.incoming",
            "data": {"call_id": "rtc_x", "sip_headers": []},
        }
    ).encode()
    stamp = int(time.time())
    client = await hass_client_no_auth()
    response = await client.post(
        f"/api/webhook/{webhook_id}",
        data=body,
        headers={
            "webhook-id": "wh_1",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(DEFAULT_WEBHOOK_SECRET, "wh_1", stamp, body),
        },
    )
    assert response.status == 200
    await hass.async_block_till_done()
    assert [r.path for r in simulator.recorder.requests_to("openai", "/reject")] == [
        "/v1/realtime/calls/rtc_x/reject"
    ]

    # Opened again: the same URL, the project suggested, the secret never sent back.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["description_placeholders"]["webhook_url"] == url
    shown = suggested(result["data_schema"])
    assert shown[CONF_SIP] == {CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT}
    assert DEFAULT_WEBHOOK_SECRET not in json.dumps(shown)
    # A blank secret keeps the stored one.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form(**{CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_WEBHOOK_SECRET] == DEFAULT_WEBHOOK_SECRET


@pytest.mark.usefixtures("external_url")
@pytest.mark.parametrize(
    ("transport", "sip", "error"),
    [
        ("sip", {}, "sip_incomplete"),
        ("sip", {CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT}, "sip_incomplete"),
        ("auto", {**SIP, CONF_OPENAI_PROJECT_ID: "project-1"}, "invalid_project_id"),
        ("sip", {**SIP, CONF_WEBHOOK_SECRET: "c2VjcmV0"}, "invalid_webhook_secret"),
        (
            "sip",
            {**SIP, CONF_OPENAI_PROJECT_ID: "proj_someoneelse"},
            "project_mismatch",
        ),
    ],
)
async def test_sip_options_errors(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    transport: str,
    sip: dict[str, str],
    error: str,
) -> None:
    """What cannot work is refused, and nothing is stored."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form(transport, **sip)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert init_integration.options == {}


async def test_sip_needs_a_url_openai_can_reach(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """No external URL and no Home Assistant Cloud: SIP cannot be chosen."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["description_placeholders"] == {"webhook_url": "-"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form("auto", **SIP)
    )
    assert result["errors"] == {"base": "no_webhook_url"}
    # Media Stream calls do not need it; the settings are kept for later.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form("media_stream", **SIP)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_OPENAI_PROJECT_ID] == DEFAULT_OPENAI_PROJECT


@pytest.mark.usefixtures("external_url")
async def test_project_unchecked_when_openai_is_down(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """OpenAI cannot say whether the project is the key's: it is stored unchecked."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    simulator.fail("openai", "/v1/models", status=500)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form(**SIP)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_OPENAI_PROJECT_ID] == DEFAULT_OPENAI_PROJECT


class FakeCloud(ModuleType):
    """Home Assistant Cloud, as far as cloudhooks go."""

    class CloudNotAvailable(Exception):  # noqa: N818 - the real name
        """No cloud."""

    def __init__(self, *, subscribed: bool = True, connected: bool = True) -> None:
        super().__init__("homeassistant.components.cloud")
        self.subscribed = subscribed
        self.connected = connected
        self.hooks: dict[str, str] = {}
        self.deleted: list[str] = []

    def async_active_subscription(self, hass: HomeAssistant) -> bool:
        return self.subscribed

    async def async_get_or_create_cloudhook(
        self, hass: HomeAssistant, webhook_id: str
    ) -> str:
        if not self.connected:
            raise self.CloudNotAvailable
        return self.hooks.setdefault(
            webhook_id, f"https://hooks.nabu.casa/{webhook_id[:8]}"
        )

    async def async_delete_cloudhook(
        self, hass: HomeAssistant, webhook_id: str
    ) -> None:
        if not self.connected:
            raise self.CloudNotAvailable
        self.deleted.append(webhook_id)


@pytest.fixture
def fake_cloud(hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch) -> FakeCloud:
    """Home Assistant Cloud is loaded, with a subscription."""
    cloud = FakeCloud()
    monkeypatch.setitem(sys.modules, "homeassistant.components.cloud", cloud)
    monkeypatch.setattr(homeassistant.components, "cloud", cloud, raising=False)
    hass.config.components.add("cloud")
    return cloud


async def test_cloudhook(
    hass: HomeAssistant, init_integration: MockConfigEntry, fake_cloud: FakeCloud
) -> None:
    """With Home Assistant Cloud the URL is a cloudhook; removing the entry deletes it."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    url = result["description_placeholders"]["webhook_url"]
    assert url.startswith("https://hooks.nabu.casa/")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form(**SIP)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    webhook_id = init_integration.options[CONF_SIP_WEBHOOK_ID]
    assert fake_cloud.hooks == {webhook_id: url}
    await hass.async_block_till_done()
    await hass.config_entries.async_remove(init_integration.entry_id)
    assert fake_cloud.deleted == [webhook_id]


@pytest.mark.parametrize(("subscribed", "connected"), [(False, True), (True, False)])
async def test_no_cloudhook_without_the_cloud(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    fake_cloud: FakeCloud,
    subscribed: bool,
    connected: bool,
) -> None:
    """No subscription, or the cloud is not connected: no cloudhook (and no URL here)."""
    fake_cloud.subscribed, fake_cloud.connected = subscribed, connected
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["description_placeholders"] == {"webhook_url": "-"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], form("media_stream")
    )
    assert init_integration.options["sip_cloudhook"] is False
    await hass.async_block_till_done()
    await hass.config_entries.async_remove(init_integration.entry_id)
    assert fake_cloud.deleted == []


async def test_cloudhook_removal_survives_a_disconnected_cloud(
    hass: HomeAssistant, init_integration: MockConfigEntry, fake_cloud: FakeCloud
) -> None:
    """The cloud is gone when the entry is removed: the entry still goes."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await hass.config_entries.options.async_configure(result["flow_id"], form(**SIP))
    await hass.async_block_till_done()
    fake_cloud.connected = False
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    assert fake_cloud.deleted == []
