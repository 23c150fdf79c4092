"""The repair issue when Twilio or OpenAI refuse the stored credentials, and the way to new ones."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_CREDENTIALS = "credentials_refused"
SERVICES = {"twilio": "Twilio", "openai": "OpenAI"}


def issue_id(service: str, entry_id: str) -> str:
    """One issue per service, so each clears when its own credentials work again."""
    return f"{ISSUE_CREDENTIALS}_{service}_{entry_id}"


def async_credentials_issue(hass: HomeAssistant, entry_id: str, service: str) -> None:
    """Raise the issue: the entry's reauthentication takes new credentials."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(service, entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_CREDENTIALS,
        translation_placeholders={"service": SERVICES.get(service, service)},
    )


def async_credentials_accepted(
    hass: HomeAssistant, entry_id: str, service: str
) -> None:
    """The service took the credentials: its issue clears."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(service, entry_id))


def all_issue_ids(entry_id: str) -> list[str]:
    """Every credentials issue an entry can have."""
    return [issue_id(service, entry_id) for service in SERVICES]
