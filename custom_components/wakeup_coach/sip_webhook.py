"""The OpenAI project webhook: where OpenAI announces SIP calls to Home Assistant.

A Home Assistant webhook, one per entry, registered while the entry is loaded and
SIP is set up; Home Assistant Cloud users can use its cloudhook URL and open no
port at all. Every request authenticates before any work: the body is read within
a size limit and a deadline, its Standard Webhooks signature is checked on the raw
bytes with the entry's signing secret, its timestamp must be fresh and its id new.
Only then is the JSON read. An incoming call that carries the token of a call this
entry placed is accepted (in the background, after answering 200); one that
carries no such token, someone else dialling the project's SIP address, is
rejected through OpenAI's API. Nothing else makes any request to OpenAI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
import logging
import time
from typing import Any, Protocol

from aiohttp import web
from homeassistant.components import webhook
from homeassistant.core import HomeAssistant, callback
import orjson

from .call import Call
from .call_manager import call_registry
from .const import (
    CONF_OPENAI_PROJECT_ID,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DOMAIN,
    LOGGER,
)
from .openai_sip import (
    TOKEN_HEADER,
    IncomingCall,
    SipControl,
    SipControlError,
    parse_incoming,
)
from .sip_call import Claim, SipCall
from .standard_webhooks import (
    ReplayGuard,
    WebhookVerificationError,
    decode_secret,
    verify,
)

# OpenAI's events are a few kilobytes; anything near this is not OpenAI.
MAX_BODY_BYTES = 64 * 1024
BODY_DEADLINE_SECONDS = 10.0
CHUNK_BYTES = 8192
# A refused request is worth a warning, but not one per request.
WARNING_INTERVAL_SECONDS = 60.0


class WebhookHost(Protocol):
    """What the webhook needs from the entry's call manager."""

    @property
    def sip_control(self) -> SipControl:
        """Accept, reject and hang up through the entry's OpenAI key."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a task owned by the entry (cancelled on unload)."""

    def note_webhook_trouble(self, reason: str) -> None:
        """A webhook was refused (the SIP repair issue names the likely cause)."""


class _BodyTooLargeError(Exception):
    """More than MAX_BODY_BYTES."""


async def _read_body(request: web.Request) -> bytes:
    """The raw body, never past the size limit or the deadline (cloudhooks included)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _BodyTooLargeError
    body = bytearray()
    async with asyncio.timeout(BODY_DEADLINE_SECONDS):
        while chunk := await request.content.read(CHUNK_BYTES):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _BodyTooLargeError
    return bytes(body)


class SipWebhook:
    """The handler of one entry's webhook."""

    def __init__(self, hass: HomeAssistant, *, key: bytes, host: WebhookHost) -> None:
        """`key`: the decoded signing secret of the entry's OpenAI project webhook."""
        self._hass = hass
        self._key = key
        self._host = host
        self._replays = ReplayGuard()
        self._warned_at = -1e9

    def _refuse(self, status: HTTPStatus, reason: str) -> web.Response:
        now = time.monotonic()
        level = logging.DEBUG
        if now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            level = logging.WARNING
        LOGGER.log(level, "Refused a request to the OpenAI SIP webhook: %s", reason)
        return web.Response(status=status)

    async def handle(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        """Authenticate the delivery, then act on an incoming call."""
        try:
            body = await _read_body(request)
        except _BodyTooLargeError:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        except TimeoutError:
            return self._refuse(HTTPStatus.REQUEST_TIMEOUT, "the body came too slowly")
        except (web.RequestPayloadError, ConnectionError, ValueError):
            return self._refuse(HTTPStatus.BAD_REQUEST, "the body broke off")
        now = time.time()
        try:
            delivery = verify(self._key, request.headers, body, now=now)
        except WebhookVerificationError as err:
            self._host.note_webhook_trouble(err.reason)
            status = (
                HTTPStatus.BAD_REQUEST
                if err.reason == "stale_timestamp"
                else HTTPStatus.UNAUTHORIZED
            )
            return self._refuse(status, err.reason)
        if not self._replays.first_time(delivery, now=now):
            # A redelivery was answered already; a replay gets nothing done.
            LOGGER.debug("Ignored a webhook delivered twice")
            return web.Response(status=HTTPStatus.OK)
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._refuse(HTTPStatus.BAD_REQUEST, "signed, but not JSON")
        if (incoming := parse_incoming(event)) is not None:
            self._incoming(incoming)
        return web.Response(status=HTTPStatus.OK)

    def _incoming(self, incoming: IncomingCall) -> None:
        """Hand a call to the SIP call whose token it carries, or refuse it."""
        token = incoming.header(TOKEN_HEADER) or ""
        found = _sip_call_with(self._hass, token) if token else None
        if found is None:
            # Someone else dialled the project, or a call that is over: OpenAI would
            # keep it ringing until it gives up.
            LOGGER.info("Rejecting a SIP call to the OpenAI project that is not ours")
            self._host.spawn(self._reject(incoming), "reject SIP call")
            return
        call, handler = found
        owner: object = call.host
        if owner is not self._host:
            return  # another entry's call: its own webhook takes it
        claim = handler.claim(incoming)
        if claim is Claim.TAKE:
            self._host.spawn(handler.incoming(incoming), "SIP call")
        elif claim is Claim.SPENT:
            LOGGER.info("Rejecting a second SIP call with a used token")
            self._host.spawn(self._reject(incoming), "reject SIP call")

    async def _reject(self, incoming: IncomingCall) -> None:
        try:
            await self._host.sip_control.reject(incoming)
        except SipControlError as err:
            LOGGER.debug("Could not reject a SIP call: %s", err)


def _sip_call_with(hass: HomeAssistant, token: str) -> tuple[Call, SipCall] | None:
    """The live SIP call (of any entry) whose SIP header token this is."""
    for call in call_registry(hass).live():
        handler = call.handler
        if isinstance(handler, SipCall) and handler.owns(token):
            return call, handler
    return None


@callback
def async_setup_sip_webhook(
    hass: HomeAssistant, options: Mapping[str, Any], host: WebhookHost
) -> Callable[[], None]:
    """Listen for OpenAI's webhook while SIP is set up; returns what stops it."""
    webhook_id = options.get(CONF_SIP_WEBHOOK_ID)
    secret = options.get(CONF_WEBHOOK_SECRET)
    if not (webhook_id and secret and options.get(CONF_OPENAI_PROJECT_ID)):
        return lambda: None
    try:
        key = decode_secret(secret)
    except ValueError:
        # The options flow only stores valid secrets; this one was edited by hand.
        LOGGER.error("The OpenAI webhook secret is not a whsec_ secret; SIP is off")
        return lambda: None
    webhook.async_register(
        hass,
        DOMAIN,
        "Wake-up Coach: OpenAI SIP calls",
        webhook_id,
        SipWebhook(hass, key=key, host=host).handle,
        allowed_methods=["POST"],
    )
    return lambda: webhook.async_unregister(hass, webhook_id)
