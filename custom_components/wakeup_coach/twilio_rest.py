"""Twilio's REST API over an aiohttp session (Home Assistant's shared one).

The twilio package's own HTTP clients are synchronous or open a private session,
so the few calls we need are made here: fetch the account, check a number, and
(for calls) create and update a call.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import aiohttp

from .const import DEFAULT_TWILIO_BASE_URL
from .phone import mask_numbers_in

API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT = 10.0


class TwilioError(Exception):
    """Twilio answered with an error, or could not be asked."""

    def __init__(
        self, message: str, *, status: int | None = None, code: int | None = None
    ) -> None:
        """Keep Twilio's HTTP status and error code for callers that branch on them."""
        super().__init__(message)
        self.status = status
        self.code = code


class TwilioAuthError(TwilioError):
    """The account SID or auth token was refused (HTTP 401)."""


class TwilioConnectionError(TwilioError):
    """Twilio could not be reached, timed out, refused for load, or had a server error.

    `reached` tells whether Twilio may have acted on the request anyway (a timeout
    or a 5xx after it arrived): retrying a call creation then risks a second call.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        reached: bool = True,
    ) -> None:
        """Keep whether the request may have been carried out."""
        super().__init__(message, status=status, code=code)
        self.reached = reached


@dataclass(frozen=True, kw_only=True)
class TwilioAccount:
    """The fields of an account we use."""

    sid: str
    friendly_name: str
    status: str


class TwilioRestClient:
    """A small async client for the Twilio Voice REST API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = DEFAULT_TWILIO_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Bind the client to one account; nothing is sent until a method is called."""
        self._session = session
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._account_url = (
            f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.account_sid = account_sid

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        url = f"{self._account_url}{path}"
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                try:
                    decoded = await response.json(content_type=None)
                except ValueError:
                    decoded = None
                body: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
                if response.status < HTTPStatus.BAD_REQUEST:
                    return body
                # Twilio's messages quote phone numbers; they end up in logs and the UI.
                message = mask_numbers_in(
                    str(body.get("message") or response.reason or "error")
                )
                code = body.get("code") if isinstance(body.get("code"), int) else None
                if response.status == HTTPStatus.UNAUTHORIZED:
                    raise TwilioAuthError(message, status=response.status, code=code)
                if response.status == HTTPStatus.TOO_MANY_REQUESTS:
                    raise TwilioConnectionError(
                        message, status=response.status, code=code, reached=False
                    )
                if response.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                    raise TwilioConnectionError(
                        message, status=response.status, code=code
                    )
                raise TwilioError(message, status=response.status, code=code)
        except aiohttp.ClientConnectorError as err:
            # No connection was made: Twilio never saw the request.
            raise TwilioConnectionError(
                f"cannot reach Twilio: {type(err).__name__}", reached=False
            ) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TwilioConnectionError(
                f"cannot reach Twilio: {type(err).__name__}"
            ) from err

    async def async_get_account(self) -> TwilioAccount:
        """Fetch the account; proves the credentials."""
        body = await self._request("GET", ".json")
        return TwilioAccount(
            sid=str(body.get("sid", self.account_sid)),
            friendly_name=str(body.get("friendly_name", "")),
            status=str(body.get("status", "")),
        )

    async def async_create_call(self, form: list[tuple[str, str]]) -> str:
        """Place a call (Calls.json); returns its SID. Repeated keys are kept in order."""
        body = await self._request("POST", "/Calls.json", data=form)
        sid = body.get("sid")
        if not isinstance(sid, str):
            raise TwilioError("Twilio accepted the call but returned no SID")
        return sid

    async def async_get_call_status(self, call_sid: str) -> str:
        """The call's current status (queued, ringing, in-progress, completed, ...)."""
        body = await self._request("GET", f"/Calls/{call_sid}.json")
        return str(body.get("status", ""))

    async def async_find_calls(
        self, *, to: str, from_: str, since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Calls from `from_` to `to` created since `since`: (sid, status, created).

        Twilio lists the newest first; its time filters go by start time, which a
        queued call does not have yet, so creation times are checked here.
        """
        body = await self._request(
            "GET",
            "/Calls.json",
            params={"To": to, "From": from_, "PageSize": "20"},
        )
        found: list[tuple[str, str, datetime]] = []
        for item in body.get("calls", []):
            try:
                created = parsedate_to_datetime(str(item["date_created"]))
            except (KeyError, TypeError, ValueError):
                continue
            if created >= since and isinstance(item.get("sid"), str):
                found.append((item["sid"], str(item.get("status", "")), created))
        return found

    async def async_update_call(
        self, call_sid: str, form: list[tuple[str, str]]
    ) -> None:
        """Update a live call: Status=completed hangs up, Twiml/Url redirects.

        A call that is already gone (404, code 20404) counts as done.
        """
        try:
            await self._request("POST", f"/Calls/{call_sid}.json", data=form)
        except TwilioError as err:
            if err.status != HTTPStatus.NOT_FOUND:
                raise

    async def async_owns_number(self, number: str) -> bool:
        """Whether the account may call from this number.

        A Twilio number of the account or a verified caller ID both work as From.
        """
        for path, key in (
            ("/IncomingPhoneNumbers.json", "incoming_phone_numbers"),
            ("/OutgoingCallerIds.json", "outgoing_caller_ids"),
        ):
            body = await self._request("GET", path, params={"PhoneNumber": number})
            if any(item.get("phone_number") == number for item in body.get(key, [])):
                return True
        return False
