"""The HTTP endpoints Twilio calls: TwiML for each turn, status and machine-detection callbacks.

Home Assistant does not authenticate these requests, so each one authenticates
itself before any work: a size limit and a read deadline, a call id that exists,
a valid X-Twilio-Signature over the exact URL the integration gave Twilio, the
call's own CallSid, and, for TwiML requests, a single-use token. Failures answer
4xx and change nothing.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import logging
from urllib.parse import parse_qsl

from aiohttp import web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from . import twiml
from .call import CALL_PATH, Call
from .call_manager import call_registry
from .call_session import TokenUse, UnknownTokenError
from .const import LOGGER

# Twilio's webhook forms are a few hundred bytes; anything near this is not Twilio.
MAX_BODY_BYTES = 16 * 1024
# Twilio sends its small forms at once; a body trickling in is someone holding a connection.
BODY_DEADLINE_SECONDS = 10.0
XML = "text/xml"


def reject(
    status: HTTPStatus, reason: str, call_id: str, call: Call | None = None
) -> web.Response:
    """Answer a refused request, with a log line that cannot flood the log."""
    level = logging.DEBUG
    if status is HTTPStatus.FORBIDDEN and call is not None and call.should_warn():
        level = logging.WARNING
    LOGGER.log(level, "Rejected a request for call %r: %s", call_id[:6], reason)
    return web.Response(status=status)


class BodyTooLargeError(Exception):
    """More than MAX_BODY_BYTES."""


async def read_form(request: web.Request) -> dict[str, str]:
    """The whole form, read chunk by chunk, never past the size limit or the deadline."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BodyTooLargeError
    body = bytearray()
    async with asyncio.timeout(BODY_DEADLINE_SECONDS):
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise BodyTooLargeError
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class TwilioCallView(HomeAssistantView):
    """POST /api/wakeup_coach/call/{call_id}/{action}[/{token}]."""

    url = CALL_PATH + "/{call_id}/{action}/{token}"
    extra_urls = [CALL_PATH + "/{call_id}/{action}"]  # noqa: RUF012 - HA's view API
    name = "api:wakeup_coach:call"
    requires_auth = False

    async def post(
        self, request: web.Request, call_id: str, action: str, token: str | None = None
    ) -> web.Response:
        """Authenticate, then hand the request to the call."""
        hass = request.app[KEY_HASS]
        try:
            form = await read_form(request)
        except BodyTooLargeError:
            return reject(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large", call_id
            )
        except TimeoutError:
            return reject(
                HTTPStatus.REQUEST_TIMEOUT, "the body came too slowly", call_id
            )
        except (web.RequestPayloadError, ConnectionError):
            return reject(HTTPStatus.BAD_REQUEST, "the body broke off", call_id)
        call = call_registry(hass).get(call_id)
        if call is None:
            return reject(HTTPStatus.NOT_FOUND, "no such call", call_id)
        path = f"{action}/{token}" if token else action
        if not call.authentic(
            call.url(path), form, request.headers.get("X-Twilio-Signature", "")
        ):
            return reject(
                HTTPStatus.FORBIDDEN,
                "missing or wrong X-Twilio-Signature",
                call_id,
                call,
            )
        if not call.accepts(form.get("CallSid")):
            # A second Twilio call with our URLs (an ambiguous retry): it is being hung up.
            if token is None:
                return web.Response(status=HTTPStatus.NO_CONTENT)
            return web.Response(text=twiml.hang_up(), content_type=XML)

        if token is None:
            if action == "status":
                call.on_status(form)
                return web.Response(status=HTTPStatus.NO_CONTENT)
            if action == "amd":
                call.on_amd(form)
                return web.Response(status=HTTPStatus.NO_CONTENT)
            return reject(HTTPStatus.NOT_FOUND, f"unknown endpoint {action!r}", call_id)
        try:
            document = await call.on_twiml(TokenUse(action), token, form)
        except (ValueError, UnknownTokenError):
            return reject(HTTPStatus.NOT_FOUND, "URL never issued", call_id)
        return web.Response(text=document, content_type=XML)
