"""The self-test's endpoints: a TwiML request and a Media Stream, as Twilio would make them.

They sit beside the real endpoints (same path prefixes, so the same proxy rules
apply) and accept only the self-test's own tokens: issued a few seconds before,
used once, and signed like Twilio's requests with the account's Auth Token.
Anything else is refused with 4xx before any work; they never reach OpenAI or
Twilio, and they answer a nonce with a proof only this Home Assistant can make.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import json

from aiohttp import WSMsgType, web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .selftest import (
    ECHO_SECONDS,
    SELFTEST_STREAM_PATH,
    SELFTEST_TWIML_PATH,
    TokenUse,
    tickets,
)
from .views import XML, BodyTooLargeError, read_form, reject

# The echo is one short JSON object.
MAX_ECHO_BYTES = 1024
MAX_NONCE_LENGTH = 64
SELFTEST = "selftest"


class SelfTestTwimlView(HomeAssistantView):
    """POST /api/wakeup_coach/call/selftest/{token}: answers like a TwiML endpoint."""

    url = SELFTEST_TWIML_PATH + "/{token}"
    name = "api:wakeup_coach:selftest"
    requires_auth = False

    async def post(self, request: web.Request, token: str) -> web.Response:
        """Authenticate, then answer the nonce with this Home Assistant's proof."""
        try:
            form = await read_form(request)
        except BodyTooLargeError:
            return reject(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large", SELFTEST
            )
        except TimeoutError:
            return reject(
                HTTPStatus.REQUEST_TIMEOUT, "the body came too slowly", SELFTEST
            )
        except (web.RequestPayloadError, ConnectionError):
            return reject(HTTPStatus.BAD_REQUEST, "the body broke off", SELFTEST)
        store = tickets(request.app[KEY_HASS])
        ticket = store.get(token, TokenUse.TWIML)
        if ticket is None:
            return reject(HTTPStatus.NOT_FOUND, "no such test token", SELFTEST)
        if not ticket.authentic(form, request.headers.get("X-Twilio-Signature", "")):
            return reject(
                HTTPStatus.FORBIDDEN, "missing or wrong X-Twilio-Signature", SELFTEST
            )
        store.redeem(token)
        proof = ticket.proof(form.get("Nonce", ""))
        # A document Twilio would accept, and the proof that this one made it.
        return web.Response(
            text=(
                '<?xml version="1.0" encoding="UTF-8"?>'
                f"<Response><Say>{proof}</Say><Hangup /></Response>"
            ),
            content_type=XML,
        )


class SelfTestStreamView(HomeAssistantView):
    """GET (WebSocket) /api/wakeup_coach/stream/selftest/{token}: one signed echo."""

    url = SELFTEST_STREAM_PATH + "/{token}"
    name = "api:wakeup_coach:selftest_stream"
    requires_auth = False

    async def get(self, request: web.Request, token: str) -> web.StreamResponse:
        """Authenticate the upgrade, then echo one nonce, signed, and close."""
        store = tickets(request.app[KEY_HASS])
        ticket = store.get(token, TokenUse.STREAM)
        if ticket is None:
            return reject(HTTPStatus.NOT_FOUND, "no such test token", SELFTEST)
        # Signed over the URL with no parameters, as Twilio signs a stream's upgrade.
        if request.query_string or not ticket.authentic(
            {}, request.headers.get("X-Twilio-Signature", "")
        ):
            return reject(
                HTTPStatus.FORBIDDEN, "missing or wrong X-Twilio-Signature", SELFTEST
            )
        ws = web.WebSocketResponse(max_msg_size=MAX_ECHO_BYTES, autoping=True)
        if not ws.can_prepare(request).ok:
            return reject(HTTPStatus.BAD_REQUEST, "not a WebSocket upgrade", SELFTEST)
        store.redeem(token)
        await ws.prepare(request)
        try:
            async with asyncio.timeout(ECHO_SECONDS):
                message = await ws.receive()
        except TimeoutError:
            message = None
        if message is not None and message.type is WSMsgType.TEXT:
            try:
                nonce = json.loads(message.data).get("nonce")
            except (ValueError, AttributeError):
                nonce = None
            if isinstance(nonce, str) and len(nonce) <= MAX_NONCE_LENGTH:
                await ws.send_str(
                    json.dumps({"event": "echo", "proof": ticket.proof(nonce)})
                )
        await ws.close()
        return ws
