"""The public URL Twilio reaches Home Assistant at, and the repair issue when there is none."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .const import DOMAIN

ISSUE_NO_PUBLIC_URL = "no_public_url"


def async_check_public_url(
    hass: HomeAssistant, entry_id: str, *, require_https: bool
) -> str | None:
    """HA's external URL (or Nabu Casa remote URL) without a trailing slash, or None.

    Creates or clears the repair issue to match. Real Twilio requires https (and
    wss for streams); the simulator does not.
    """
    issue_id = f"{ISSUE_NO_PUBLIC_URL}_{entry_id}"
    try:
        url = get_url(
            hass,
            allow_internal=False,
            allow_ip=True,
            require_ssl=require_https,
            prefer_external=True,
        )
    except NoURLAvailableError:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_NO_PUBLIC_URL,
            learn_more_url="https://www.home-assistant.io/docs/configuration/remote/",
        )
        return None
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    return url.rstrip("/")
