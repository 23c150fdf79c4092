"""Twilio's REST API: accounts and phone numbers (calls are added by the phone network)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import BasicAuth, web

if TYPE_CHECKING:
    from .accounts import TwilioAccountState
    from .server import Simulator

API = "/2010-04-01/Accounts/{account_sid}"


def twilio_error_text(status: int, code: int, message: str) -> str:
    """An error body in Twilio's JSON shape."""
    return json.dumps(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """An error response in Twilio's JSON shape."""
    return web.Response(
        text=twilio_error_text(status, code, message),
        status=status,
        content_type="application/json",
    )


def authenticate(sim: Simulator, request: web.Request) -> TwilioAccountState:
    """Check HTTP Basic auth against the account in the path, as Twilio does."""
    header = request.headers.get("Authorization", "")
    try:
        auth = BasicAuth.decode(header)
    except ValueError:
        auth = None
    account = sim.world.twilio_account(request.match_info["account_sid"])
    if (
        auth is None
        or account is None
        or auth.login != account.sid
        or auth.password != account.auth_token
    ):
        raise web.HTTPUnauthorized(
            text=twilio_error_text(401, 20003, "Authenticate"),
            content_type="application/json",
        )
    return account


def routes(sim: Simulator) -> list[web.RouteDef]:
    """The account and number routes."""

    async def get_account(request: web.Request) -> web.Response:
        account = authenticate(sim, request)
        return web.json_response(
            {
                "sid": account.sid,
                "friendly_name": account.friendly_name,
                "status": "active",
                "type": "Full",
            }
        )

    def number_list(key: str, numbers: list[str], request: web.Request) -> web.Response:
        wanted = request.query.get("PhoneNumber")
        items: list[dict[str, Any]] = [
            {"phone_number": number, "sid": f"PN{index:032d}"}
            for index, number in enumerate(numbers)
            if wanted is None or number == wanted
        ]
        return web.json_response({key: items, "page": 0, "page_size": 50})

    async def incoming_numbers(request: web.Request) -> web.Response:
        account = authenticate(sim, request)
        return number_list("incoming_phone_numbers", account.incoming_numbers, request)

    async def caller_ids(request: web.Request) -> web.Response:
        account = authenticate(sim, request)
        return number_list("outgoing_caller_ids", account.verified_caller_ids, request)

    return [
        web.get(f"{API}.json", get_account),
        web.get(f"{API}/IncomingPhoneNumbers.json", incoming_numbers),
        web.get(f"{API}/OutgoingCallerIds.json", caller_ids),
    ]
