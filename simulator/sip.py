"""OpenAI's SIP interface, and the Twilio <Dial><Sip> leg that reaches it.

Twilio's side: a `<Dial><Sip>` verb dials the OpenAI project's SIP address. The leg
is a phone line like a Media Stream, without any WebSocket: the scripted sleeper
talks into it and hears the model, paced in simulated real time (`SipLeg` reuses
the Media Stream session's sleeper and playback). The integration never sees the
audio. When the leg ends, Twilio fetches the `<Dial action>` with DialCallStatus,
DialCallSid, DialCallDuration and DialSipResponseCode.

OpenAI's side, as the notes in /work/shared/reference describe it (gpt_live.md §7,
the Realtime SIP guide); what they leave open is marked unverified:

- The INVITE must name `sip:<project id>@sip.api.openai.com` (or the sip-eu./sip-in.
  hosts) with `transport=tls`; Twilio's `secure=true` asks for SRTP, which OpenAI
  requires. A wrong host or project answers 404, a project without SIP 403, plain
  RTP 488 (the codes are unverified). Custom `X-` headers arrive in `sip_headers`.
- The project webhook (`webhook_url`, None when none is configured) gets
  `realtime.call.incoming` (`data.call_id` "rtc_…") and, when GPT-Live SIP is enabled
  for the project, `live.transport.incoming` (`data.type` "sip", `data.session_id`
  "live_…") for the same call, signed the Standard Webhooks way with the webhook's
  secret: `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature`
  "v1,<base64 HMAC-SHA256 of id.timestamp.body>". No redelivery.
- The first decision wins: `POST /v1/realtime/calls/{call_id}/accept` (the GA
  session config, strict as on the WebSocket; `type` "realtime") or
  `POST /v1/live/sessions/{session_id}/accept` (`{"session": {"type": "live", ...}}`,
  strict like `session.start`, no `audio.format`), or `.../reject`
  (`{"status_code": 300-699}`, default 603). A second decision gets 409
  decision_already_made; an unknown or finished call 404 call_id_not_found. Without a
  decision within `ring_timeout`, the INVITE times out (408).
- Accepted: the model hears the sleeper's μ-law and speaks into the leg (G.711
  negotiated: the session's formats are μ-law whatever the accept said). Events go
  to the sidebands, never audio: `GET /v1/realtime?call_id=…` and
  `GET /v1/live/sessions/{session_id}/attach`, which take the client events of their
  protocol except audio and `session.start`. Realtime sessions also send
  `output_audio_buffer.started` / `.stopped` / `.cleared` as the leg plays (WebRTC and
  SIP only). Nothing is replayed to a sideband that attaches late.
- `POST .../hangup` ends the leg (DialCallStatus completed), as does the sleeper
  hanging up (the whole call ends), the `<Dial timeLimit>` or GPT-Live's
  `session.close` on the sideband.

Knobs on `SipService` (`sim.sip`), for scenarios:

- `webhook_url: str | None`: where OpenAI posts (the project's webhook settings).
- `events`: the event types the webhook is subscribed to (both by default).
- `enabled` / `live_enabled`: SIP for the project, and GPT-Live's SIP on top.
- `refuse_next: int | None`: the next INVITE is refused with this SIP status. Used once.
- `signing_secret: str | None`: sign with this secret instead of the project's
  (the integration has another one: "wrong secret").
- `timestamp_skew: float`: seconds added to `webhook-timestamp` (a stale clock).
- `ring_timeout: float`: simulated seconds OpenAI waits for a decision (default 30).
- `drop_sideband_after: float | None`: the next sideband's connection is cut this many
  simulated seconds after it attached (close code 1006); the call itself goes on,
  as a real SIP call would without its sideband. Used once.

Test helpers: `deliver(payload, ...)` posts a (possibly forged) webhook,
`replay(index)` re-posts a delivered one byte for byte, `stranger_calls()` is an
INVITE to the project that did not come from the integration's call.

Recorder events: sip_invite {sid, uri, headers}, sip_refused {code, reason},
sip_webhook {type, status, webhook_id}, sip_accepted {engine, session},
sip_rejected {status_code}, sip_hangup {call_id}, sip_sideband {engine},
sip_ended {call_id, reason}, sip_leg_cut_speech {queued_ms} (the leg ended with
model speech not yet played).
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import suppress
from dataclasses import dataclass, field
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from aiohttp import web

from . import audio, twiml
from .media_stream import MediaStreamSession
from .openai_api import (
    LIVE_MODELS,
    MODELS,
    EventError,
    authenticate,
    invalid_value,
    missing_parameter,
    openai_error,
    unknown_parameter,
)
from .openai_live import LiveSession, resolve_session
from .openai_realtime import RealtimeSession, _merge, check_update, default_session
from .phone_network import CallEnded

if TYPE_CHECKING:
    from .phone_network import SimulatedCall
    from .server import Simulator

SIP_HOSTS = ("sip.api.openai.com", "sip-eu.api.openai.com", "sip-in.api.openai.com")
REALTIME_EVENT = "realtime.call.incoming"
LIVE_EVENT = "live.transport.incoming"
MULAW = {"type": "audio/pcmu"}
LIVE_MULAW = {"type": "audio/pcmu", "rate": 8000}
# What each SIP refusal becomes in Twilio's DialCallStatus.
BUSY_CODES = {486, 600, 603}
NO_ANSWER_CODES = {408, 480}
# Real seconds OpenAI waits for the webhook's answer (unverified).
WEBHOOK_TIMEOUT = 10.0


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks signature ("v1,<base64>") with a "whsec_" secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def dial_status(code: int) -> str:
    """Twilio's DialCallStatus for a SIP final response."""
    if code < 300:
        return "completed"
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


def _error(
    status: int, code: str | None, message: str, param: str | None = None
) -> web.Response:
    return openai_error(status, message, "invalid_request_error", code, param)


def _not_found() -> web.Response:
    return _error(404, "call_id_not_found", "No session found for the provided call_id")


class SipLeg(MediaStreamSession):
    """The phone side of a <Dial><Sip> leg: the sleeper talks, the model's audio plays.

    No WebSocket: frames go straight to the model once the call is accepted, and
    the model's audio is queued for playback at real-time pace.
    """

    def __init__(self, sim: Simulator, call: SimulatedCall, sip: twiml.Sip) -> None:
        """Ringing; `talk` runs the conversation once OpenAI has accepted."""
        super().__init__(sim, call, twiml.Stream(url=sip.uri))
        self.model: SipCall | None = None
        self.playing = False

    async def _send_frame(self) -> None:
        frame = bytes(self._mouth[: audio.FRAME_BYTES])
        del self._mouth[: audio.FRAME_BYTES]
        if len(frame) < audio.FRAME_BYTES:
            frame += audio.silence(audio.FRAME_MS)[len(frame) :]
        if self.model is not None:
            await self.model.hear(frame)

    def play(self, chunk: bytes) -> None:
        """Model audio, queued behind what is still playing."""
        self._playback.append(chunk)
        if not self.playing:
            self.playing = True
            if self.model is not None:
                self.model.playback("started")

    def clear(self) -> None:
        """The model stopped its reply: what was not played yet is dropped."""
        self._playback.clear()
        self._end_coach_utterance()
        if self.playing:
            self.playing = False
            if self.model is not None:
                self.model.playback("cleared")

    def _play_frame(self, *, stalled: bool = False) -> None:
        super()._play_frame(stalled=stalled)
        model = self.model
        # Played out: once the model has no more of the reply to send.
        if self.playing and not self._playback and not (model and model.generating):
            self.playing = False
            if model is not None:
                model.playback("stopped")

    def hang_up(self) -> None:
        """The other side ended the leg (a BYE)."""
        self._closed.set()

    async def talk(self) -> None:
        """Carry the conversation until a side hangs up; CallEnded if the sleeper did."""
        self._event("sip_leg_connected")
        loops = [
            asyncio.create_task(self._clock_loop()),
            asyncio.create_task(self._sleeper()),
        ]
        try:
            await self._closed.wait()
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with suppress(asyncio.CancelledError):
                    await task
            if self._queued_speech():
                # The line went down while the model's speech was still to be heard.
                self._event("sip_leg_cut_speech", queued_ms=self._queued_ms())
            self._end_coach_utterance()
        if self.call.record.ended_by == "sleeper":
            raise CallEnded


class _ModelSocket:
    """What a model session on a SIP call sends: audio to the leg, events to the sidebands."""

    def __init__(self, service: SipService, call: SipCall) -> None:
        self._service = service
        self._call = call
        self.closed = False

    async def send_json(self, event: dict[str, Any]) -> None:
        call = self._call
        kind = event.get("type")
        if kind in ("response.output_audio.delta", "session.output_audio.delta"):
            if call.leg is not None:
                call.leg.play(base64.b64decode(event.get("delta", "")))
            return
        if kind == "response.created":
            call.generating = True
        if kind == "response.done":
            call.generating = False
            response = event.get("response") or {}
            if response.get("status") == "cancelled" and call.leg is not None:
                # On SIP the server stops what it has not played yet.
                call.leg.clear()
        await call.broadcast(event)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> None:
        if not self.closed:
            self.closed = True
            # The model ended the session (GPT-Live's session.close, its expiry).
            model = self._call.model
            reason = model.close_reason if isinstance(model, LiveSession) else "model"
            self._service.sim.spawn(self._service.end(self._call, reason))


@dataclass
class SipCall:
    """One call that reached the project's SIP address, as OpenAI sees it."""

    sim: Simulator
    headers: list[dict[str, str]]
    leg: SipLeg | None = None
    call_id: str = field(default_factory=lambda: f"rtc_{secrets.token_hex(12)}")
    session_id: str = field(default_factory=lambda: f"live_{secrets.token_hex(12)}")
    state: str = "ringing"  # accepted, rejected, timed_out, cancelled, ended
    engine: str | None = None  # "realtime" or "live" once accepted
    model: RealtimeSession | LiveSession | None = None
    generating: bool = False  # a Realtime response is under way
    decision: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    sidebands: set[web.WebSocketResponse] = field(default_factory=set)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def hear(self, frame: bytes) -> None:
        """20 ms of the sleeper, to the model."""
        model = self.model
        if model is None or (isinstance(model, LiveSession) and model.closing):
            return
        kind = (
            "input_audio_buffer.append"
            if isinstance(model, RealtimeSession)
            else "session.input_audio.append"
        )
        payload = base64.b64encode(frame).decode()
        await model.handle(json.dumps({"type": kind, "audio": payload}))

    def playback(self, stage: str) -> None:
        """The leg started, finished or dropped playing the model's audio (Realtime only)."""
        model = self.model
        if isinstance(model, RealtimeSession):
            event = {
                "type": f"output_audio_buffer.{stage}",
                "response_id": model.response_id,
            }
            self.sim.spawn(model.send(event))

    async def broadcast(self, event: dict[str, Any]) -> None:
        """A server event, to every sideband attached (none: it is lost)."""
        for ws in list(self.sidebands):
            if not ws.closed:
                with suppress(ConnectionError):
                    await ws.send_json(event)


class SipService:
    """OpenAI's SIP endpoint and call-control API, and the knobs of the module docstring."""

    def __init__(self, sim: Simulator) -> None:
        """No calls yet; the project has SIP, GPT-Live SIP, and no webhook configured."""
        self.sim = sim
        self.webhook_url: str | None = None
        self.events: tuple[str, ...] = (REALTIME_EVENT, LIVE_EVENT)
        self.enabled = True
        self.live_enabled = True
        self.refuse_next: int | None = None
        self.signing_secret: str | None = None
        self.timestamp_skew = 0.0
        self.ring_timeout = 30.0
        self.drop_sideband_after: float | None = None
        self.calls: dict[str, SipCall] = {}
        self.sessions: dict[str, SipCall] = {}
        # Every webhook sent: (headers, body), for replays.
        self.delivered: list[tuple[dict[str, str], bytes]] = []

    def routes(self) -> list[web.RouteDef]:
        """Call control, and GPT-Live's sideband (Realtime's shares /v1/realtime)."""
        return [
            web.post("/v1/realtime/calls/{call_id}/{action}", self.realtime_control),
            web.post("/v1/live/sessions/{session_id}/{action}", self.live_control),
            web.get("/v1/live/sessions/{session_id}/attach", self.live_sideband),
        ]

    # --- Twilio dials --------------------------------------------------------------

    def _refusal(self, sip: twiml.Sip) -> tuple[int, str] | None:
        if (code := self.refuse_next) is not None:
            self.refuse_next = None
            return code, "refused by the scenario"
        if sip.host not in SIP_HOSTS:
            return 404, f"{sip.host} is not OpenAI's SIP address"
        if sip.params.get("transport", "").lower() != "tls":
            return 403, "OpenAI takes SIP over TLS only"
        if sip.params.get("secure", "").lower() != "true":
            return 488, "OpenAI requires SRTP media (secure=true)"
        if sip.user != self.sim.world.openai_project:
            return 404, "no such project"
        if not self.enabled:
            return 403, "SIP is not enabled for the project"
        return None

    async def dial(self, phone: SimulatedCall, dial: twiml.Dial) -> dict[str, str]:
        """Run one <Dial><Sip> leg; Twilio's <Dial action> parameters for how it ended."""
        clock = self.sim.clock
        sip = dial.sip
        leg_sid = "CA" + secrets.token_hex(16)
        self.sim.recorder.event(
            "sip_invite", sid=phone.record.sid, uri=sip.uri, headers=dict(sip.headers)
        )

        def result(code: int, duration: int = 0) -> dict[str, str]:
            return {
                "DialCallStatus": dial_status(code),
                "DialCallSid": leg_sid,
                "DialCallDuration": str(duration),
                "DialSipResponseCode": str(code),
            }

        if refusal := self._refusal(sip):
            code, reason = refusal
            self.sim.recorder.event("sip_refused", code=code, reason=reason)
            await clock.sleep(0.3)
            return result(code)
        record = phone.record
        headers = [
            {"name": "From", "value": f"sip:{record.from_}@twilio.example"},
            {"name": "To", "value": f"sip:{sip.user}@{sip.host}"},
            {"name": "Call-ID", "value": secrets.token_hex(12)},
            *({"name": name, "value": value} for name, value in sip.headers.items()),
        ]
        call = SipCall(self.sim, headers, leg=SipLeg(self.sim, phone, sip))
        self._add(call)
        self.sim.spawn(self.announce(call))
        ended = "remote_hangup"
        try:
            try:
                async with asyncio.timeout(
                    clock.real(min(dial.timeout, self.ring_timeout))
                ):
                    code = await asyncio.shield(call.decision)
            except TimeoutError:
                call.state = "timed_out"
                self.sim.recorder.event("sip_timed_out", call_id=call.call_id)
                return result(408)
            if code >= 300:
                return result(code)
            answered = clock.now()
            assert call.leg is not None  # noqa: S101
            try:
                async with asyncio.timeout(clock.real(dial.time_limit)):
                    await call.leg.talk()
            except TimeoutError:
                ended = "time_limit"
            return result(200, round(clock.now() - answered))
        finally:
            if call.state == "ringing":
                call.state = "cancelled"  # Twilio gave up on the leg (a redirect)
            await self.end(call, ended)

    def _add(self, call: SipCall) -> None:
        self.calls[call.call_id] = call
        self.sessions[call.session_id] = call

    async def stranger_calls(
        self, headers: list[dict[str, str]] | None = None
    ) -> SipCall:
        """Someone else dials the project's SIP address; OpenAI announces it as usual."""
        call = SipCall(
            self.sim,
            headers or [{"name": "From", "value": "sip:+15550199999@example.net"}],
        )
        self._add(call)
        await self.announce(call)
        return call

    # --- webhooks ------------------------------------------------------------------

    async def announce(self, call: SipCall) -> None:
        """The incoming-call webhooks, one per subscribed event type."""
        for kind in self.events:
            if kind == LIVE_EVENT and not self.live_enabled:
                continue
            data: dict[str, Any] = (
                {"call_id": call.call_id, "sip_headers": call.headers}
                if kind == REALTIME_EVENT
                else {
                    "type": "sip",
                    "session_id": call.session_id,
                    "sip_headers": call.headers,
                    "sip_media_security": "srtp",
                }
            )
            await self.deliver(
                {
                    "object": "event",
                    "id": f"evt_{secrets.token_hex(12)}",
                    "type": kind,
                    "created_at": int(time.time()),
                    "data": data,
                }
            )

    async def deliver(
        self,
        payload: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> int | None:
        """Post one signed webhook to `webhook_url`; its HTTP status (None: no answer).

        The keyword arguments forge what a test needs: another id or timestamp, the
        wrong secret, or a signature as given.
        """
        url = self.webhook_url
        if url is None:
            self.sim.recorder.event(
                "sip_webhook", type=None, status=None, webhook_id=None
            )
            return None
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        webhook_id = webhook_id or f"wh_{secrets.token_hex(16)}"
        if timestamp is None:
            timestamp = int(time.time() + self.timestamp_skew)
        secret = secret or self.signing_secret or self.sim.world.openai_webhook_secret
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature or sign(secret, webhook_id, timestamp, body),
            "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
            "content-type": "application/json",
        }
        self.delivered.append((headers, body))
        status = await self._post(url, headers, body)
        kind = payload.get("type") if isinstance(payload, dict) else None
        self.sim.recorder.event(
            "sip_webhook", type=kind, status=status, webhook_id=webhook_id
        )
        return status

    async def replay(self, index: int = -1) -> int | None:
        """Post a delivered webhook again, exactly as it was (an attacker's replay)."""
        headers, body = self.delivered[index]
        assert self.webhook_url is not None  # noqa: S101
        return await self._post(self.webhook_url, headers, body)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> int | None:
        try:
            async with self.sim.session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT),
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    # --- call control ---------------------------------------------------------------

    async def realtime_control(self, request: web.Request) -> web.Response:
        """POST /v1/realtime/calls/{call_id}/accept|reject|hangup."""
        authenticate(self.sim, request)
        call = self.calls.get(request.match_info["call_id"])
        return await self._control(request, call, "realtime")

    async def live_control(self, request: web.Request) -> web.Response:
        """POST /v1/live/sessions/{session_id}/accept|reject|hangup."""
        authenticate(self.sim, request)
        call = self.sessions.get(request.match_info["session_id"])
        return await self._control(request, call, "live")

    async def _control(
        self, request: web.Request, call: SipCall | None, engine: str
    ) -> web.Response:
        action = request.match_info["action"]
        if action not in ("accept", "reject", "hangup"):
            return _error(404, None, f"Unknown action '{action}'.")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "invalid_json", "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "invalid_json", "Expected a JSON object.")
        if call is None or call.state in ("timed_out", "cancelled", "ended"):
            return _not_found()
        if action == "hangup":
            if call.state == "rejected":
                return _not_found()
            if call.state != "accepted":
                return _error(409, "call_not_active", "The call has not been accepted.")
            self.sim.recorder.event("sip_hangup", call_id=call.call_id)
            await self.end(call, "close_requested")
            return web.Response(status=200)
        if call.state != "ringing":
            return _error(
                409,
                "decision_already_made",
                "A decision was already made for this call.",
            )
        if action == "reject":
            return self._reject(call, body)
        try:
            if engine == "realtime":
                await self._accept_realtime(call, body)
            else:
                await self._accept_live(call, body)
        except EventError as err:
            status = 404 if err.code == "model_not_found" else 400
            return _error(status, err.code, err.message, err.param)
        return web.Response(status=200)

    def _reject(self, call: SipCall, body: dict[str, Any]) -> web.Response:
        code = body.get("status_code", 603)
        if (
            not isinstance(code, int)
            or isinstance(code, bool)
            or not 300 <= code <= 699
        ):
            return _error(
                400,
                "invalid_value",
                "status_code must be from 300 to 699.",
                "status_code",
            )
        call.state = "rejected"
        self.sim.recorder.event("sip_rejected", call_id=call.call_id, status_code=code)
        if not call.decision.done():
            call.decision.set_result(code)
        return web.Response(status=200)

    async def _accept_realtime(self, call: SipCall, body: dict[str, Any]) -> None:
        model = body.get("model", "gpt-realtime")
        if model in LIVE_MODELS:
            raise EventError(
                "invalid_model",
                f"The model `{model}` is a GPT-Live model: accept on /v1/live/sessions.",
                "model",
            )
        if model not in MODELS:
            raise EventError(
                "model_not_found",
                f"The model `{model}` does not exist or you do not have access to it.",
                "model",
            )
        check_update(body, str(model))
        for side in ("input", "output"):
            fmt = ((body.get("audio") or {}).get(side) or {}).get("format")
            if fmt is not None and fmt.get("type") != "audio/pcmu":
                # Unverified: Twilio's leg carries G.711 μ-law, so that is what OpenAI negotiates.
                raise invalid_value(
                    f"audio.{side}.format.type", "This SIP call carries audio/pcmu."
                )
        session = _merge(default_session(str(model)), body)
        session["audio"]["input"]["format"] = dict(MULAW)
        session["audio"]["output"]["format"] = dict(MULAW)
        socket = cast("web.WebSocketResponse", _ModelSocket(self, call))
        realtime = RealtimeSession(self.sim, socket, session)
        realtime.configured = True
        self._accepted(call, "realtime", realtime, session)

    async def _accept_live(self, call: SipCall, body: dict[str, Any]) -> None:
        unknown = set(body) - {"session"}
        if unknown:
            raise unknown_parameter(min(unknown))
        session = body.get("session")
        if not isinstance(session, dict):
            raise missing_parameter("session")
        session = dict(session)
        if "type" not in session:
            raise missing_parameter("session.type")
        if session.pop("type") != "live":
            raise invalid_value(
                "session.type", "Invalid value. Supported values are: 'live'."
            )
        if isinstance(session.get("audio"), dict) and "format" in session["audio"]:
            raise unknown_parameter("session.audio.format")  # SIP negotiates the format
        config = resolve_session(session)
        config["audio"]["format"] = dict(LIVE_MULAW)
        socket = cast("web.WebSocketResponse", _ModelSocket(self, call))
        live = LiveSession(self.sim, self.sim.live, socket, None)
        self._accepted(call, "live", live, config)
        await live.begin(config, None)

    def _accepted(
        self,
        call: SipCall,
        engine: str,
        model: RealtimeSession | LiveSession,
        session: dict[str, Any],
    ) -> None:
        call.state = "accepted"
        call.engine = engine
        call.model = model
        if call.leg is not None:
            call.leg.model = call
        self.sim.recorder.event(
            "sip_accepted", call_id=call.call_id, engine=engine, session=session
        )
        if not call.decision.done():
            call.decision.set_result(200)

    async def end(self, call: SipCall, reason: str) -> None:
        """The call is over on OpenAI's side: the leg, the model and the sidebands end."""
        if call.ended.is_set():
            return
        call.ended.set()
        if call.state in ("ringing", "accepted"):
            call.state = "ended"
        if not call.decision.done():
            call.decision.cancel()
        if call.leg is not None:
            call.leg.hang_up()
        model = call.model
        if isinstance(model, LiveSession):
            await model.finish(reason)
            await model.close()
        elif isinstance(model, RealtimeSession):
            await model.close()
        for ws in list(call.sidebands):
            with suppress(ConnectionError):
                await ws.close()
        self.sim.recorder.event("sip_ended", call_id=call.call_id, reason=reason)

    # --- sidebands --------------------------------------------------------------------

    async def realtime_sideband(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/realtime?call_id=… (authenticated by the Realtime route)."""
        call = self.calls.get(request.query.get("call_id", ""))
        if call is None or call.state != "accepted" or call.engine != "realtime":
            return _not_found()
        return await self._sideband(request, call, ("input_audio_buffer.append",))

    async def live_sideband(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/live/sessions/{session_id}/attach."""
        authenticate(self.sim, request)
        call = self.sessions.get(request.match_info["session_id"])
        if call is None or call.state != "accepted" or call.engine != "live":
            return _error(
                404, "session_not_found", "No session found for the provided session_id"
            )
        return await self._sideband(
            request, call, ("session.start", "session.input_audio.append")
        )

    async def _sideband(
        self, request: web.Request, call: SipCall, refused: tuple[str, ...]
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        call.sidebands.add(ws)
        self.sim.recorder.event(
            "sip_sideband", call_id=call.call_id, engine=call.engine
        )
        drop: asyncio.Task[None] | None = None
        if (after := self.drop_sideband_after) is not None:
            self.drop_sideband_after = None
            drop = asyncio.create_task(self._drop(request, after))
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT or call.model is None:
                    continue
                try:
                    kind = json.loads(message.data).get("type")
                except (ValueError, AttributeError):
                    kind = None
                if kind in refused:
                    # Unverified how the real server words it: audio and start are
                    # the primary connection's, which a SIP call does not have.
                    await ws.send_json(
                        {
                            "type": "error",
                            "error": {
                                "type": "invalid_request_error",
                                "code": "invalid_sideband_event",
                                "message": f"'{kind}' cannot be sent on a sideband.",
                            },
                        }
                    )
                    self.sim.recorder.event("sip_sideband_refused", type=kind)
                    continue
                await call.model.handle(message.data)
        finally:
            call.sidebands.discard(ws)
            if drop is not None:
                drop.cancel()
        return ws

    async def _drop(self, request: web.Request, after: float) -> None:
        """Cut a sideband like a network failure: no close frame at all."""
        await self.sim.clock.sleep(after)
        self.sim.recorder.event("sip_sideband_dropped", after=after)
        if request.transport is not None:
            request.transport.abort()

    async def shutdown(self) -> None:
        """End every call (the simulator is stopping)."""
        for call in list(self.calls.values()):
            await self.end(call, "shutdown")
