"""The options of realtime calls over SIP: the form's fields, their checks, the webhook URL.

The options form asks how realtime calls travel (Media Stream, SIP via OpenAI, or
automatic), and for SIP the OpenAI project ID and the signing secret of the
project's webhook. It shows the URL to paste into the project's webhook settings:
a Home Assistant webhook, or its Home Assistant Cloud cloudhook, kept across
flows so that the URL OpenAI knows stays valid. The project ID is checked live
(the key must be allowed to act for it); the secret can only be checked by
format here, and by the first signed webhook afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from homeassistant.components import webhook
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import openai

from .const import (
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_TRANSPORT,
    CONF_SIP,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DEFAULT_OPENAI_BASE_URL,
    LOGGER,
)
from .models import RealtimeTransport
from .openai_client import async_create_openai_client, async_list_models
from .schema import vol
from .standard_webhooks import decode_secret

CONF_SIP_CLOUDHOOK = "sip_cloudhook"
PROJECT_ID = re.compile(r"proj_[A-Za-z0-9]+")


@dataclass(frozen=True)
class WebhookSetup:
    """The entry's webhook: its id, the URL to give OpenAI (None: none exists), cloudhook or not."""

    webhook_id: str
    url: str | None
    cloudhook: bool


async def async_webhook_setup(
    hass: HomeAssistant, options: Mapping[str, Any]
) -> WebhookSetup:
    """The entry's webhook (a new id the first time) and its URL."""
    webhook_id = options.get(CONF_SIP_WEBHOOK_ID) or webhook.async_generate_id()
    if (cloudhook := await _async_cloudhook(hass, webhook_id)) is not None:
        return WebhookSetup(webhook_id, cloudhook, cloudhook=True)
    try:
        url: str | None = webhook.async_generate_url(
            hass, webhook_id, allow_internal=False, allow_ip=True
        )
    except NoURLAvailableError:
        url = None
    return WebhookSetup(webhook_id, url, cloudhook=False)


async def _async_cloudhook(hass: HomeAssistant, webhook_id: str) -> str | None:
    """The webhook's cloudhook URL, with a Home Assistant Cloud subscription."""
    if "cloud" not in hass.config.components:
        return None
    # Imported only where Home Assistant Cloud is loaded.
    from homeassistant.components import cloud  # noqa: PLC0415

    if not cloud.async_active_subscription(hass):
        return None
    try:
        return await cloud.async_get_or_create_cloudhook(hass, webhook_id)
    except cloud.CloudNotAvailable as err:
        LOGGER.warning("No cloudhook for OpenAI's SIP webhook: %s", err)
        return None


async def async_remove_cloudhook(
    hass: HomeAssistant, options: Mapping[str, Any]
) -> None:
    """Delete the entry's cloudhook, if it has one (the entry is being removed)."""
    webhook_id = options.get(CONF_SIP_WEBHOOK_ID)
    if not (options.get(CONF_SIP_CLOUDHOOK) and webhook_id):
        return
    if "cloud" not in hass.config.components:
        return
    from homeassistant.components import cloud  # noqa: PLC0415

    try:
        await cloud.async_delete_cloudhook(hass, webhook_id)
    except cloud.CloudNotAvailable as err:
        LOGGER.warning("Could not delete the SIP webhook's cloudhook: %s", err)


def sip_fields() -> dict[vol.Marker, Any]:
    """The transport choice, and the SIP section (project ID, signing secret)."""
    return {
        vol.Required(
            CONF_REALTIME_TRANSPORT, default=RealtimeTransport.MEDIA_STREAM.value
        ): SelectSelector(
            SelectSelectorConfig(
                options=[transport.value for transport in RealtimeTransport],
                translation_key=CONF_REALTIME_TRANSPORT,
                mode=SelectSelectorMode.DROPDOWN,
            )
        ),
        vol.Optional(CONF_SIP, default={}): section(
            vol.Schema(
                {
                    vol.Optional(CONF_OPENAI_PROJECT_ID): TextSelector(),
                    # Blank keeps the stored secret: it is never sent back to the form.
                    vol.Optional(CONF_WEBHOOK_SECRET): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    ),
                }
            ),
            {"collapsed": False},
        ),
    }


def suggested(options: Mapping[str, Any]) -> dict[str, Any]:
    """Stored options in the form's shape (the secret left out)."""
    shown = {
        k: v
        for k, v in options.items()
        if k not in (CONF_OPENAI_PROJECT_ID, CONF_WEBHOOK_SECRET)
    }
    if project := options.get(CONF_OPENAI_PROJECT_ID):
        shown[CONF_SIP] = {CONF_OPENAI_PROJECT_ID: project}
    return shown


async def async_sip_errors(
    hass: HomeAssistant,
    entry_data: Mapping[str, Any],
    stored: Mapping[str, Any],
    options: dict[str, Any],
    setup: WebhookSetup,
) -> dict[str, str]:
    """Check the SIP part of submitted options and flatten it into them; form errors.

    `options` is the form's input: its SIP section becomes top-level keys, a blank
    secret keeps the stored one, and the webhook's id is kept with them.
    """
    sip = options.pop(CONF_SIP, None) or {}
    project = str(sip.get(CONF_OPENAI_PROJECT_ID) or "").strip()
    secret = str(sip.get(CONF_WEBHOOK_SECRET) or "").strip() or stored.get(
        CONF_WEBHOOK_SECRET, ""
    )
    options.pop(CONF_OPENAI_PROJECT_ID, None)
    options.pop(CONF_WEBHOOK_SECRET, None)
    options[CONF_SIP_WEBHOOK_ID] = setup.webhook_id
    options[CONF_SIP_CLOUDHOOK] = setup.cloudhook
    if project:
        options[CONF_OPENAI_PROJECT_ID] = project
    if secret:
        options[CONF_WEBHOOK_SECRET] = secret
    transport = options.get(CONF_REALTIME_TRANSPORT, RealtimeTransport.MEDIA_STREAM)
    if transport == RealtimeTransport.SIP and not (project and secret):
        return {"base": "sip_incomplete"}
    if project and not PROJECT_ID.fullmatch(project):
        return {"base": "invalid_project_id"}
    if secret:
        try:
            decode_secret(secret)
        except ValueError:
            return {"base": "invalid_webhook_secret"}
    if transport != RealtimeTransport.MEDIA_STREAM and project and setup.url is None:
        return {"base": "no_webhook_url"}
    if project and project != stored.get(CONF_OPENAI_PROJECT_ID):
        return await _async_project_errors(hass, entry_data, project)
    return {}


async def _async_project_errors(
    hass: HomeAssistant, entry_data: Mapping[str, Any], project: str
) -> dict[str, str]:
    """Whether the entry's key may act for the project (OpenAI refuses a project it may not)."""
    client = await async_create_openai_client(
        hass,
        entry_data[CONF_OPENAI_API_KEY],
        entry_data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
    )
    try:
        await async_list_models(client.with_options(project=project))
    except (
        openai.AuthenticationError,
        openai.PermissionDeniedError,
        openai.NotFoundError,
    ):
        return {"base": "project_mismatch"}
    except openai.OpenAIError as err:
        # Unknown either way: the project is stored unchecked, as model names are.
        LOGGER.warning("The OpenAI project ID is not checked: %s", err)
    return {}
