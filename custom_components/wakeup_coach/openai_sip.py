"""OpenAI's SIP calls: the incoming call as the webhook announces it, and its REST control.

A call to the project's SIP address is announced once per protocol: the Realtime
API's `realtime.call.incoming` (a call id) and, where GPT-Live SIP is enabled,
`live.transport.incoming` (a session id). The app decides with one POST (accept
with the session's configuration, or reject with a SIP status), later hangs up
with another, and steers the call over a sideband WebSocket in between (see
sideband.py). The first decision wins; raw aiohttp and orjson, like the engines.

No Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from .models import EngineKind
from .realtime_client import session_config

REALTIME_INCOMING = "realtime.call.incoming"
LIVE_INCOMING = "live.transport.incoming"
LIVE_INCOMING_OLD = "live.call.incoming"  # GPT-Live's name for it during the alpha
INCOMING_TYPES = {
    REALTIME_INCOMING: EngineKind.REALTIME,
    LIVE_INCOMING: EngineKind.LIVE,
    LIVE_INCOMING_OLD: EngineKind.LIVE,
}
# The custom SIP header that carries a call's one-time token (Twilio passes X- headers).
TOKEN_HEADER = "X-Wake-Token"  # noqa: S105 - a header name
DECLINE = 603
TIMEOUT = 10.0


class SipControlError(Exception):
    """OpenAI refused a call-control request, or could not be asked."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        """`reason` is short and stable (it ends up in the `fallback` event)."""
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class IncomingCall:
    """A call OpenAI announced: which protocol's event, its id there, its SIP headers."""

    engine: EngineKind
    call_id: str
    sip_headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """A SIP header's value (names compare case-insensitively); untrusted."""
        wanted = name.lower()
        return next((v for n, v in self.sip_headers if n.lower() == wanted), None)


def parse_incoming(event: Any) -> IncomingCall | None:
    """The incoming call of a webhook event; None if it is not one (or is malformed)."""
    if not isinstance(event, dict):
        return None
    engine = INCOMING_TYPES.get(str(event.get("type")))
    data = event.get("data")
    if engine is None or not isinstance(data, dict):
        return None
    call_id = data.get("call_id" if engine is EngineKind.REALTIME else "session_id")
    headers = data.get("sip_headers")
    if not isinstance(call_id, str) or not call_id or not isinstance(headers, list):
        return None
    pairs = tuple(
        (str(header["name"]), str(header["value"]))
        for header in headers
        if isinstance(header, dict) and "name" in header and "value" in header
    )
    return IncomingCall(engine, call_id, pairs)


def sip_uri(project_id: str, token: str, host: str = "sip.api.openai.com") -> str:
    """The project's SIP address for Twilio's <Sip>: TLS, SRTP, and the call's token.

    `secure=true` is Twilio's switch for SRTP, which OpenAI requires; custom headers
    follow the `?` and must start with X-.
    """
    return (
        f"sip:{project_id}@{host};transport=tls;secure=true"
        f"?{TOKEN_HEADER}={quote(token, safe='')}"
    )


def realtime_session(
    *, model: str, voice: str, language: str, instructions: str
) -> dict[str, Any]:
    """The Realtime session of a SIP call: the WebSocket one without audio formats.

    SIP negotiates the codec. OpenAI plays the audio itself and knows what the
    sleeper heard, so the server cuts a reply the sleeper talks over.
    """
    session = copy.deepcopy(
        session_config(
            model=model, voice=voice, language=language, instructions=instructions
        )
    )
    audio = session["audio"]
    audio["input"].pop("format", None)
    audio["output"].pop("format", None)
    audio["input"]["turn_detection"]["interrupt_response"] = True
    return session


def live_session(*, model: str, voice: str, instructions: str) -> dict[str, Any]:
    """GPT-Live's session of a SIP call (`type` "live", no audio format: SIP negotiates it)."""
    return {
        "type": "live",
        "model": model,
        "instructions": instructions,
        "audio": {"output": {"voice": voice}},
    }


class SipControl:
    """Accept, reject and hang up SIP calls of one OpenAI project."""

    def __init__(
        self, http: aiohttp.ClientSession, *, base_url: str, api_key: str
    ) -> None:
        """Nothing is sent until a method is called."""
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
        }

    def _url(self, call: IncomingCall, action: str) -> str:
        call_id = quote(call.call_id, safe="")
        if call.engine is EngineKind.LIVE:
            return f"{self._base}/live/sessions/{call_id}/{action}"
        return f"{self._base}/realtime/calls/{call_id}/{action}"

    async def _post(self, url: str, body: Mapping[str, Any] | None) -> None:
        try:
            async with self._http.post(
                url,
                data=orjson.dumps(body) if body is not None else None,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            ) as response:
                if response.status < HTTPStatus.BAD_REQUEST:
                    return
                try:
                    error = (await response.json(content_type=None))["error"]
                    code = str(error.get("code") or "refused")
                except (ValueError, KeyError, TypeError, AttributeError):
                    code = "refused"
                raise SipControlError(f"openai_{code}", status=response.status)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise SipControlError("openai_unreachable") from err

    async def accept(self, call: IncomingCall, session: Mapping[str, Any]) -> None:
        """Take the call with this session configuration."""
        body = (
            dict(session)
            if call.engine is EngineKind.REALTIME
            else {"session": session}
        )
        await self._post(self._url(call, "accept"), body)

    async def reject(self, call: IncomingCall, status_code: int = DECLINE) -> None:
        """Refuse the call with a SIP status (603 Decline by default)."""
        await self._post(self._url(call, "reject"), {"status_code": status_code})

    async def hangup(self, call: IncomingCall) -> None:
        """End an accepted call."""
        await self._post(self._url(call, "hangup"), None)
