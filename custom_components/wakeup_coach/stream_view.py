"""The Media Stream endpoint: Twilio's WebSocket for a realtime call.

Before the upgrade completes, the request must name a call in progress, carry
Twilio's signature over the exact wss:// URL the integration put in the TwiML,
and hold that call's single-use stream token; each call's stream is served
once. Anything else is refused with 4xx before a WebSocket exists. The call's
`start` message must then carry the same token and the call's CallSid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus

from aiohttp import WSMsgType, web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .call import STREAM_PATH, stream_url
from .call_manager import call_registry
from .views import reject

# Twilio's frames are a few hundred bytes. Bigger ones (up to this) are read and
# dropped by the bridge; beyond it aiohttp closes the socket.
MAX_FRAME_BYTES = 256 * 1024


class _Messages:
    """Text frames as str, binary frames as bytes, until the socket closes.

    An iterator class, not an async generator: each frame costs one coroutine
    call fewer (Twilio sends fifty a second).
    """

    __slots__ = ("_receive",)

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._receive = ws.receive

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> str | bytes:
        message = await self._receive()
        if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
            data: str | bytes = message.data
            return data
        raise StopAsyncIteration


class _Socket:
    """Twilio's side of the stream, for the bridge."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    def messages(self) -> AsyncIterator[str | bytes]:
        return _Messages(self._ws)

    async def send(self, data: bytes) -> None:
        if not self._ws.closed:
            await self._ws.send_frame(data, WSMsgType.TEXT)

    async def close(self) -> None:
        await self._ws.close()


class TwilioStreamView(HomeAssistantView):
    """GET (WebSocket) /api/wakeup_coach/stream/{call_id}/{token}."""

    url = STREAM_PATH + "/{call_id}/{token}"
    name = "api:wakeup_coach:stream"
    requires_auth = False

    async def get(
        self, request: web.Request, call_id: str, token: str
    ) -> web.StreamResponse:
        """Authenticate the upgrade, then carry the stream."""
        call = call_registry(request.app[KEY_HASS]).get(call_id)
        if call is None:
            return reject(HTTPStatus.NOT_FOUND, "no such call", call_id)
        expected = stream_url(call.session, token)
        # Twilio signs a WebSocket upgrade over the URL with no parameters, and never
        # adds a query string: a request with one is not for the URL that was signed.
        if request.query_string or not call.authentic(
            expected, {}, request.headers.get("X-Twilio-Signature", "")
        ):
            return reject(
                HTTPStatus.FORBIDDEN,
                "missing or wrong X-Twilio-Signature",
                call_id,
                call,
            )
        ws = web.WebSocketResponse(
            max_msg_size=MAX_FRAME_BYTES, compress=False, autoping=True
        )
        if not ws.can_prepare(request).ok:
            return reject(HTTPStatus.BAD_REQUEST, "not a WebSocket upgrade", call_id)
        handler = call.claim_stream(token)
        if handler is None:
            return reject(
                HTTPStatus.NOT_FOUND, "stream already served or never issued", call_id
            )
        await ws.prepare(request)
        await handler.stream(_Socket(ws))
        if not ws.closed:
            await ws.close()
        return ws
