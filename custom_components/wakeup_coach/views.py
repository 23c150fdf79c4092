"""The endpoints Twilio calls: TwiML for each turn, status and machine-detection callbacks.

Home Assistant does not authenticate these requests, so each one authenticates
itself before any work: a size limit, a call id that exists, a valid
X-Twilio-Signature over the exact URL the integration gave Twilio, and, for TwiML
requests, a single-use token. Failures answer 413/404/403 and change nothing.
"""

from __future__ import annotations

from http import HTTPStatus
import logging
import time
from urllib.parse import parse_qsl

from aiohttp import ClientPayloadError, web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from twilio.request_validator import RequestValidator

from . import twiml
from .call_manager import ACTIVE_CALLS, CALL_PATH, ActiveCall
from .call_session import TokenUse
from .const import LOGGER

# Twilio's webhook forms are a few hundred bytes; anything near this is not Twilio.
MAX_BODY_BYTES = 16 * 1024
XML = "text/xml"


def _reject(status: HTTPStatus, reason: str, call_id: str) -> web.Response:
    # Unknown ids and oversized bodies come from anyone: not worth a warning each.
    # A bad signature on a real call is worth one.
    level = logging.WARNING if status is HTTPStatus.FORBIDDEN else logging.DEBUG
    LOGGER.log(level, "Rejected a request for call %r: %s", call_id[:6], reason)
    return web.Response(status=status)


class _BodyTooLargeError(Exception):
    """More than MAX_BODY_BYTES."""


async def _read_form(request: web.Request) -> dict[str, str]:
    """The whole form, read chunk by chunk and never past the size limit."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _BodyTooLargeError
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BodyTooLargeError
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _authentic(
    call: ActiveCall, url: str, form: dict[str, str], signature: str
) -> bool:
    validator = RequestValidator(call.manager.auth_token)
    return bool(signature) and bool(validator.validate(url, form, signature))


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
        started = time.perf_counter()
        hass = request.app[KEY_HASS]
        try:
            form = await _read_form(request)
        except _BodyTooLargeError:
            return _reject(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large", call_id
            )
        except (ClientPayloadError, ConnectionError):
            return _reject(HTTPStatus.BAD_REQUEST, "the body broke off", call_id)
        call = hass.data.get(ACTIVE_CALLS, {}).get(call_id)
        if call is None:
            return _reject(HTTPStatus.NOT_FOUND, "no such call in progress", call_id)
        expected_url = call.manager.url(
            call.session, f"{action}/{token}" if token else action
        )
        if not _authentic(
            call, expected_url, form, request.headers.get("X-Twilio-Signature", "")
        ):
            return _reject(
                HTTPStatus.FORBIDDEN, "missing or wrong X-Twilio-Signature", call_id
            )
        if (
            form.get("CallSid")
            and call.session.call_sid
            and form["CallSid"] != call.session.call_sid
        ):
            return _reject(
                HTTPStatus.FORBIDDEN, "the request is for another Twilio call", call_id
            )

        if token is None:
            if action == "status":
                call.manager.handle_status(call, form)
                return web.Response(status=HTTPStatus.NO_CONTENT)
            if action == "amd":
                call.manager.handle_amd(call, form)
                return web.Response(status=HTTPStatus.NO_CONTENT)
            return _reject(
                HTTPStatus.NOT_FOUND, f"unknown endpoint {action!r}", call_id
            )

        try:
            use = TokenUse(action)
        except ValueError:
            return _reject(
                HTTPStatus.NOT_FOUND, f"unknown endpoint {action!r}", call_id
            )
        if not call.session.redeem_token(use, token):
            return _reject(
                HTTPStatus.NOT_FOUND, "URL already used or never issued", call_id
            )
        call.manager.note_call_sid(call.session, form.get("CallSid"))
        handler = call.handler
        try:
            if use is TokenUse.VOICE:
                document = await handler.answer(form.get("AnsweredBy"))
            elif use is TokenUse.SPEECH and form.get("SpeechResult", "").strip():
                document = await handler.speech(form["SpeechResult"].strip())
            else:
                document = await handler.silence()
        except Exception:  # noqa: BLE001 - logged with its traceback just below
            # A bug must not cost the wake-up: Twilio would apologise and hang up.
            LOGGER.exception("Error while answering Twilio; the call goes on")
            document = handler.recover()
        if not call.session.active:
            # The call ended (hang-up, unload) while the model was thinking.
            return web.Response(text=twiml.hang_up(), content_type=XML)
        elapsed_ms = (time.perf_counter() - started) * 1000
        call.session.turn_overhead_ms.append(elapsed_ms - handler.model_ms)
        return web.Response(text=document, content_type=XML)
