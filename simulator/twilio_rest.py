"""Twilio's REST API: accounts and phone numbers (calls are added by the phone network)."""

from __future__ import annotations

from email.utils import format_datetime
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import BasicAuth, web

if TYPE_CHECKING:
    from .accounts import TwilioAccountState
    from .phone_network import CallRecord, SimulatedCall
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


E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STATUS_EVENTS = {"initiated", "ringing", "answered", "completed"}


def call_json(record: CallRecord) -> dict[str, Any]:
    """A call resource as Twilio returns it."""
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "to": record.to,
        "from": record.from_,
        "status": record.status,
        "direction": "outbound-api",
        "answered_by": record.answered_by,
        "date_created": format_datetime(record.date_created, usegmt=True),
        "duration": str(record.duration) if record.done.is_set() else None,
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{record.account_sid}/Calls/{record.sid}.json",
    }


def form_dict(form: Any) -> dict[str, Any]:
    """A posted form as a dict; repeated keys (StatusCallbackEvent) become lists."""
    return {
        key: form.getall(key) if len(form.getall(key)) > 1 else form[key]
        for key in form
    }


def status_callback_events(form: dict[str, Any]) -> list[str]:
    """StatusCallbackEvent, posted once (a string) or repeated (a list), as a list."""
    events = form.get("StatusCallbackEvent") or []
    return [events] if isinstance(events, str) else [str(event) for event in events]


def validate_call_form(
    account: TwilioAccountState, form: dict[str, Any]
) -> web.Response | None:
    """Twilio's answer to an invalid Calls.json request, or None when it is valid."""
    to, from_ = form.get("To"), form.get("From")
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not from_:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not E164.match(str(to)):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if from_ not in account.incoming_numbers + account.verified_caller_ids:
        return twilio_error(
            400,
            21210,
            f"The source phone number provided, {from_}, is not yet verified for your account.",
        )
    url = form.get("Url")
    if not url and not form.get("Twiml"):
        return twilio_error(400, 21205, "Url parameter is required.")
    if url and not str(url).startswith(("http://", "https://")):
        return twilio_error(400, 21205, f"Url is not a valid URL: {url}")
    for event in status_callback_events(form):
        if set(event.split()) - STATUS_EVENTS:
            return twilio_error(400, 21626, f"Invalid StatusCallbackEvent: {event}")
    for key in ("Timeout", "TimeLimit"):
        if key in form:
            try:
                int(form[key])
            except ValueError:
                return twilio_error(400, 21218, f"Invalid {key}: {form[key]}")
    return None


def routes(sim: Simulator) -> list[web.RouteDef]:
    """The account, number and call routes."""

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

    async def create_call(request: web.Request) -> web.Response:
        account = authenticate(sim, request)
        form = form_dict(await request.post())
        if (error := validate_call_form(account, form)) is not None:
            return error
        record = sim.network.place(account, form)
        return web.json_response(call_json(record), status=201)

    def find_call(request: web.Request) -> SimulatedCall:
        authenticate(sim, request)
        call = sim.network.calls.get(request.match_info["call_sid"])
        if call is None or call.record.account_sid != request.match_info["account_sid"]:
            raise web.HTTPNotFound(
                text=twilio_error_text(
                    404, 20404, f"The requested resource {request.path} was not found"
                ),
                content_type="application/json",
            )
        return call

    async def list_calls(request: web.Request) -> web.Response:
        """Calls of the account, newest first, filtered like Twilio's To/From/Status."""
        account = authenticate(sim, request)
        query = request.query
        calls = [
            call_json(call.record)
            for call in reversed(list(sim.network.calls.values()))
            if call.record.account_sid == account.sid
            and query.get("To", call.record.to) == call.record.to
            and query.get("From", call.record.from_) == call.record.from_
            and query.get("Status", call.record.status) == call.record.status
        ]
        page_size = int(query.get("PageSize", "50"))
        return web.json_response(
            {"calls": calls[:page_size], "page": 0, "page_size": page_size}
        )

    async def get_call(request: web.Request) -> web.Response:
        return web.json_response(call_json(find_call(request).record))

    async def update_call(request: web.Request) -> web.Response:
        call = find_call(request)
        form = form_dict(await request.post())
        ended = call.record.done.is_set()
        if form.get("Status") in ("completed", "canceled"):
            # Twilio answers at once; the status callback follows.
            if not ended:
                call.update(form)
            answered = call.record.answered_at is not None
            status = "completed" if answered or ended else "canceled"
            return web.json_response(call_json(call.record) | {"status": status})
        if ended:
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if "Twiml" not in form and "Url" not in form:
            return twilio_error(400, 21205, "Url parameter is required.")
        call.update(form)
        return web.json_response(call_json(call.record))

    return [
        web.post(f"{API}/Calls.json", create_call),
        web.get(f"{API}/Calls.json", list_calls),
        web.get(API + "/Calls/{call_sid}.json", get_call),
        web.post(API + "/Calls/{call_sid}.json", update_call),
        web.get(f"{API}.json", get_account),
        web.get(f"{API}/IncomingPhoneNumbers.json", incoming_numbers),
        web.get(f"{API}/OutgoingCallerIds.json", caller_ids),
    ]
