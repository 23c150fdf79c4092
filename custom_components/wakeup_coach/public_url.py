"""The public URL Twilio reaches Home Assistant at, and the repair issues when there is none."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .const import DOMAIN

ISSUE_NO_PUBLIC_URL = "no_public_url"
ISSUE_NOT_HTTPS = "public_url_not_https"
LEARN_MORE_URL = "https://www.home-assistant.io/docs/configuration/remote/"


class PublicUrlProblem(StrEnum):
    """Why there is no URL Twilio can use."""

    NO_EXTERNAL_URL = "no_external_url"
    NOT_HTTPS = "not_https"


def _external_url(hass: HomeAssistant, *, require_ssl: bool) -> str:
    return get_url(
        hass,
        allow_internal=False,
        allow_ip=True,
        require_ssl=require_ssl,
        prefer_external=True,
    )


def async_public_url(
    hass: HomeAssistant, *, require_https: bool
) -> str | PublicUrlProblem:
    """HA's external URL (or Nabu Casa remote URL) without a trailing slash, or what is wrong.

    Real Twilio requires https (and wss for streams); the simulator does not.
    """
    try:
        return _external_url(hass, require_ssl=require_https).rstrip("/")
    except NoURLAvailableError:
        pass
    if require_https:
        try:
            _external_url(hass, require_ssl=False)
        except NoURLAvailableError:
            pass
        else:
            return PublicUrlProblem.NOT_HTTPS
    return PublicUrlProblem.NO_EXTERNAL_URL


def async_public_url_issue(
    hass: HomeAssistant, entry_id: str, url: str | PublicUrlProblem
) -> None:
    """Create the repair issue that matches `url`'s problem; clear the others."""
    no_url = f"{ISSUE_NO_PUBLIC_URL}_{entry_id}"
    not_https = f"{ISSUE_NOT_HTTPS}_{entry_id}"
    if url is PublicUrlProblem.NO_EXTERNAL_URL:
        ir.async_delete_issue(hass, DOMAIN, not_https)
        ir.async_create_issue(
            hass,
            DOMAIN,
            no_url,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_NO_PUBLIC_URL,
            learn_more_url=LEARN_MORE_URL,
        )
        return
    ir.async_delete_issue(hass, DOMAIN, no_url)
    if url is PublicUrlProblem.NOT_HTTPS:
        http_url = _external_url(hass, require_ssl=False)
        ir.async_create_issue(
            hass,
            DOMAIN,
            not_https,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_NOT_HTTPS,
            translation_placeholders={"host": urlsplit(http_url).netloc},
            learn_more_url=LEARN_MORE_URL,
        )
        return
    ir.async_delete_issue(hass, DOMAIN, not_https)


def async_check_public_url(
    hass: HomeAssistant, entry_id: str, *, require_https: bool
) -> str | None:
    """The public URL without a trailing slash, or None; creates or clears the repair issues."""
    url = async_public_url(hass, require_https=require_https)
    async_public_url_issue(hass, entry_id, url)
    return None if isinstance(url, PublicUrlProblem) else url
