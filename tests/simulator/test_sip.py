"""The simulated SIP path: Twilio's <Dial><Sip> leg, OpenAI's SIP endpoint, webhooks, control, sidebands.

A stand-in integration answers Twilio with <Dial><Sip> and receives OpenAI's
webhooks; each test plays Home Assistant's part by hand.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from simulator import twiml as sim_twiml
from simulator.accounts import (
    DEFAULT_OPENAI_KEY,
    DEFAULT_OPENAI_PROJECT,
    DEFAULT_WEBHOOK_SECRET,
)
from simulator.phone_network import CallRecord
from simulator.server import Simulator
from simulator.sip import SipCall

from .conftest import FakeIntegration, place, twiml

AUTH = {"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"}
ADDRESS = f"sip:{DEFAULT_OPENAI_PROJECT}@sip.api.openai.com;transport=tls;secure=true"


def dial(uri: str = ADDRESS + "?X-Wake-Token=tok1") -> str:
    """The TwiML that connects the call to OpenAI."""
    return f'<Dial action="/dial" timeLimit="60"><Sip>{uri}</Sip></Dial>'


class OpenAIWebhook:
    """The project's webhook, on the stand-in integration: checks and keeps each delivery."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.valid: list[bool] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request, form: dict[str, str]) -> web.Response:
        body = await request.read()
        key = base64.b64decode(DEFAULT_WEBHOOK_SECRET.removeprefix("whsec_"))
        signed = (
            f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
        ).encode() + body
        expected = base64.b64encode(
            hmac.new(key, signed, hashlib.sha256).digest()
        ).decode()
        self.valid.append(
            f"v1,{expected}" in request.headers["webhook-signature"].split()
        )
        self.events.append(json.loads(body))
        self.arrived.set()
        return web.Response(status=200)


@pytest.fixture
def webhook(sim: Simulator, app: FakeIntegration) -> OpenAIWebhook:
    """OpenAI posts the project's webhooks to the stand-in integration."""
    hook = OpenAIWebhook()
    app.handlers["/hook"] = hook.handle
    sim.sip.webhook_url = app.url("/hook")
    return hook


def serve_dial(app: FakeIntegration, document: str) -> list[dict[str, str]]:
    """/voice dials OpenAI; /dial records Twilio's <Dial action> and hangs up."""
    dialled: list[dict[str, str]] = []

    async def voice(request: web.Request, form: dict[str, str]) -> web.Response:
        return twiml(document)

    async def after(request: web.Request, form: dict[str, str]) -> web.Response:
        dialled.append(form)
        return twiml("<Hangup/>")

    app.handlers["/voice"] = voice
    app.handlers["/dial"] = after
    return dialled


async def post(
    sim: Simulator, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """A call-control request with the simulated key."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.openai_base_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers=AUTH,
        ) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text else None


def only_call(sim: Simulator) -> SipCall:
    """The one call that reached the project."""
    (call,) = sim.sip.calls.values()
    return call


async def ringing(sim: Simulator, webhook: OpenAIWebhook) -> SipCall:
    """Until OpenAI announced the call; the call."""
    await asyncio.wait_for(webhook.arrived.wait(), 10)
    return only_call(sim)


# --- TwiML ---------------------------------------------------------------------------


def test_parse_dial_sip() -> None:
    """<Dial><Sip>: the address, its URI parameters, its X- headers, the action."""
    (verb,) = sim_twiml.parse(
        f"<Response>{dial(ADDRESS + '?X-Wake-Token=a%20b&amp;X-Other=2')}</Response>",
        "http://ha.example/call/voice",
    )
    assert isinstance(verb, sim_twiml.Dial)
    assert verb.action == "http://ha.example/dial"
    assert verb.time_limit == 60
    assert verb.sip.user == DEFAULT_OPENAI_PROJECT
    assert verb.sip.host == "sip.api.openai.com"
    assert verb.sip.params == {"transport": "tls", "secure": "true"}
    assert verb.sip.headers == {"X-Wake-Token": "a b", "X-Other": "2"}


@pytest.mark.parametrize(
    "inner",
    [
        "<Sip>tel:+15550100111</Sip>",
        "<Sip>sip:openai.example</Sip>",
        f"<Sip>{ADDRESS}?Wake-Token=1</Sip>",
        f"<Sip>{ADDRESS}?X-Wake-Token={'x' * 1100}</Sip>",
        "+15550100111",
        "<Number>+15550100111</Number>",
    ],
)
def test_invalid_dial(inner: str) -> None:
    """What Twilio would refuse (or the simulator cannot dial) is an application error."""
    with pytest.raises(sim_twiml.TwiMLError):
        sim_twiml.parse(f"<Response><Dial>{inner}</Dial></Response>", "http://x/")


# --- the INVITE ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "code", "status"),
    [
        (ADDRESS.replace("sip.api.openai.com", "sip.example.com"), 404, "failed"),
        (ADDRESS.replace("transport=tls", "transport=udp"), 403, "failed"),
        (ADDRESS.replace(";secure=true", ""), 488, "failed"),
        (ADDRESS.replace(DEFAULT_OPENAI_PROJECT, "proj_other"), 404, "failed"),
    ],
)
async def test_invite_refused(  # noqa: PLR0917
    sim: Simulator,
    app: FakeIntegration,
    webhook: OpenAIWebhook,
    uri: str,
    code: int,
    status: str,
) -> None:
    """OpenAI refuses what is not its SIP address over TLS and SRTP for the project."""
    dialled = serve_dial(app, dial(uri))
    record = await place(sim, app)
    assert dialled[0]["DialCallStatus"] == status
    assert dialled[0]["DialSipResponseCode"] == str(code)
    assert record.dials == [
        {k: v for k, v in dialled[0].items() if k.startswith("Dial")}
    ]
    assert webhook.events == []
    assert sim.sip.calls == {}


@pytest.mark.parametrize(("code", "status"), [(503, "failed"), (486, "busy")])
async def test_refuse_next_and_sip_disabled(
    sim: Simulator, app: FakeIntegration, code: int, status: str
) -> None:
    """The scenario's refusal, then a project without SIP: 403."""
    dialled = serve_dial(app, dial())
    sim.sip.refuse_next = code
    await place(sim, app)
    sim.sip.enabled = False
    await place(sim, app)
    assert [(d["DialCallStatus"], d["DialSipResponseCode"]) for d in dialled] == [
        (status, str(code)),
        ("failed", "403"),
    ]


async def test_no_webhook_no_decision(sim: Simulator, app: FakeIntegration) -> None:
    """No webhook configured: OpenAI rings until it gives up (408, no-answer)."""
    sim.sip.ring_timeout = 2.0
    dialled = serve_dial(app, dial())
    await place(sim, app)
    assert dialled[0]["DialCallStatus"] == "no-answer"
    assert dialled[0]["DialSipResponseCode"] == "408"
    assert (
        sim.recorder.events_named("sip_webhook")
        == [{"type": None, "status": None, "webhook_id": None}] * 2
    )


async def test_webhooks_are_signed_and_carry_the_token(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """One event per protocol, signed with the project's secret; the X- header comes along."""
    serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    await asyncio.wait_for(_until(lambda: len(webhook.events) == 2), 10)
    assert webhook.valid == [True, True]
    realtime, live = webhook.events
    assert realtime["type"] == "realtime.call.incoming"
    assert realtime["data"]["call_id"] == call.call_id
    assert live["type"] == "live.transport.incoming"
    assert live["data"]["session_id"] == call.session_id
    assert live["data"]["type"] == "sip"
    assert {"name": "X-Wake-Token", "value": "tok1"} in realtime["data"]["sip_headers"]
    assert await post(sim, f"/realtime/calls/{call.call_id}/reject") == (200, None)
    await placing


async def test_live_sip_disabled_announces_realtime_only(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """Without GPT-Live SIP for the project, only realtime.call.incoming comes."""
    sim.sip.live_enabled = False
    sim.sip.ring_timeout = 1.0
    serve_dial(app, dial())
    await place(sim, app)
    assert [event["type"] for event in webhook.events] == ["realtime.call.incoming"]


async def test_forged_deliveries(sim: Simulator, app: FakeIntegration) -> None:
    """deliver() forges what a test needs; replay() posts a delivery again byte for byte."""
    hook = OpenAIWebhook()
    app.handlers["/hook"] = hook.handle
    sim.sip.webhook_url = app.url("/hook")
    assert await sim.sip.deliver({"type": "x"}) == 200
    assert await sim.sip.deliver({"type": "x"}, secret="whsec_b3RoZXI=") == 200
    assert await sim.sip.replay(0) == 200
    assert hook.valid == [True, False, True]
    assert hook.events[2] == hook.events[0]
    assert len(sim.sip.delivered) == 2


# --- call control ----------------------------------------------------------------------


async def test_decisions(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """The first decision wins; an unknown call is not found; hangup needs an accepted call."""
    dialled = serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    base = f"/realtime/calls/{call.call_id}"
    status, body = await post(sim, f"{base}/hangup")
    assert (status, body["error"]["code"]) == (409, "call_not_active")
    status, body = await post(sim, f"{base}/reject", {"status_code": 200})
    assert (status, body["error"]["param"]) == (400, "status_code")
    assert await post(sim, f"{base}/reject", {"status_code": 486}) == (200, None)
    status, body = await post(sim, f"{base}/accept", {"type": "realtime"})
    assert (status, body["error"]["code"]) == (409, "decision_already_made")
    status, body = await post(sim, f"/live/sessions/{call.session_id}/accept", {})
    assert (status, body["error"]["code"]) == (409, "decision_already_made")
    status, body = await post(sim, "/realtime/calls/rtc_nobody/accept", {})
    assert (status, body["error"]["code"]) == (404, "call_id_not_found")
    await placing
    assert dialled[0]["DialCallStatus"] == "busy"
    status, body = await post(sim, f"{base}/hangup")
    assert (status, body["error"]["code"]) == (404, "call_id_not_found")


@pytest.mark.parametrize(
    ("path", "body", "code", "param"),
    [
        (
            "realtime",
            {"model": "gpt-realtime"},
            "missing_required_parameter",
            "session.type",
        ),
        (
            "realtime",
            {"type": "realtime", "voice": "x"},
            "unknown_parameter",
            "session.voice",
        ),
        (
            "realtime",
            {"type": "realtime", "model": "gpt-live-1"},
            "invalid_model",
            "model",
        ),
        (
            "realtime",
            {"type": "realtime", "model": "gpt-9"},
            "model_not_found",
            "model",
        ),
        (
            "realtime",
            {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}},
            },
            "invalid_value",
            "audio.input.format.type",
        ),
        (
            "live",
            {"session": {"model": "gpt-live-1"}},
            "missing_required_parameter",
            "session.type",
        ),
        (
            "live",
            {"session": {"type": "realtime", "model": "gpt-live-1"}},
            "invalid_value",
            "session.type",
        ),
        (
            "live",
            {
                "session": {
                    "type": "live",
                    "model": "gpt-live-1",
                    "audio": {"format": {"type": "audio/pcmu", "rate": 8000}},
                }
            },
            "unknown_parameter",
            "session.audio.format",
        ),
        (
            "live",
            {"session": {"type": "live", "model": "gpt-realtime"}},
            "invalid_model",
            "session.model",
        ),
        ("live", {"type": "live"}, "unknown_parameter", "type"),
    ],
)
async def test_accept_is_strict(  # noqa: PLR0917
    sim: Simulator,
    app: FakeIntegration,
    webhook: OpenAIWebhook,
    path: str,
    body: dict[str, Any],
    code: str,
    param: str,
) -> None:
    """An accept the real API would refuse is refused, and the call keeps ringing."""
    serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    target = (
        f"/realtime/calls/{call.call_id}"
        if path == "realtime"
        else f"/live/sessions/{call.session_id}"
    )
    status, answer = await post(sim, f"{target}/accept", body)
    assert status in (400, 404)
    assert (answer["error"]["code"], answer["error"]["param"]) == (code, param)
    assert call.state == "ringing"
    assert await post(sim, f"{target}/reject") == (200, None)
    await placing


# --- accepted calls ---------------------------------------------------------------------


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def _events(
    ws: aiohttp.ClientWebSocketResponse, until: str
) -> list[dict[str, Any]]:
    """Server events up to and including the first of type `until`."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        seen.append(json.loads(message.data))
        if seen[-1]["type"] == until:
            return seen


async def test_realtime_sideband(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """Accepted: the sideband steers, the phone hears the model, no audio comes on the sideband."""
    serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    accept = {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "Wake Alice.",
    }
    assert await post(sim, f"/realtime/calls/{call.call_id}/accept", accept) == (
        200,
        None,
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"{sim.base_url}/v1/realtime?call_id=rtc_nobody", headers=AUTH
            )
        assert refused.value.status == 404
        async with session.ws_connect(
            f"{sim.base_url}/v1/realtime?call_id={call.call_id}", headers=AUTH
        ) as ws:
            await ws.send_json({"type": "input_audio_buffer.append", "audio": "AAAA"})
            refused_event = await _events(ws, "error")
            assert refused_event[-1]["error"]["code"] == "invalid_sideband_event"
            await ws.send_json(
                {
                    "type": "response.create",
                    "response": {"instructions": "Say good morning."},
                }
            )
            events = await _events(ws, "output_audio_buffer.stopped")
            kinds = [event["type"] for event in events]
            assert "response.output_audio.delta" not in kinds
            assert kinds.index("output_audio_buffer.started") < kinds.index(
                "response.done"
            )
            assert "response.output_audio_transcript.done" in kinds
            assert await post(sim, f"/realtime/calls/{call.call_id}/hangup") == (
                200,
                None,
            )
            # The server closes the sideband (after what it still had to send).
            message = await asyncio.wait_for(ws.receive(), 10)
            while message.type is aiohttp.WSMsgType.TEXT:
                message = await asyncio.wait_for(ws.receive(), 10)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    record: CallRecord = await placing
    assert record.said("coach")
    assert record.dials[0]["DialCallStatus"] == "completed"
    assert [e["reason"] for e in sim.recorder.events_named("sip_ended")] == [
        "close_requested"
    ]


async def test_live_sideband(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """GPT-Live: accept with the session, attach, append; session.close ends the call."""
    serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    session_body = {
        "session": {
            "type": "live",
            "model": "gpt-live-1",
            "instructions": "Wake Alice.",
            "audio": {"output": {"voice": "marin"}},
        }
    }
    path = f"/live/sessions/{call.session_id}"
    assert await post(sim, f"{path}/accept", session_body) == (200, None)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.base_url}/v1{path}/attach", headers=AUTH) as ws,
    ):
        await ws.send_json({"type": "session.start", "session": {}})
        assert (await _events(ws, "error"))[-1]["error"]["code"] == (
            "invalid_sideband_event"
        )
        await ws.send_json(
            {
                "type": "session.instructions.append",
                "event_id": "e1",
                "delegation_id": None,
                "content": "Greet Alice now.",
            }
        )
        # The whole line, fragment by fragment: its audio went to the phone meanwhile.
        events: list[dict[str, Any]] = []
        heard = ""
        while not (
            (lines := sim.recorder.events_named("live_line"))
            and heard == lines[0]["text"]
        ):
            events += await _events(ws, "session.output_transcript.delta")
            heard += events[-1]["delta"]
        assert "session.output_audio.delta" not in [e["type"] for e in events]
        await ws.send_json({"type": "session.close"})
        closed = await _events(ws, "session.closed")
        assert closed[-1]["reason"] == "close_requested"
        assert closed[-1]["usage"]["seconds"] > 0
    record = await placing
    assert record.said("coach")
    assert record.dials[0]["DialCallStatus"] == "completed"
    started = sim.recorder.events_named("live_session_started")[0]["session"]
    assert started["audio"]["format"] == {"type": "audio/pcmu", "rate": 8000}


async def test_drop_sideband_after(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """The knob cuts the sideband like a network failure; the call itself goes on."""
    serve_dial(app, dial())
    placing = asyncio.create_task(place(sim, app))
    call = await ringing(sim, webhook)
    accept = {"type": "realtime", "model": "gpt-realtime"}
    await post(sim, f"/realtime/calls/{call.call_id}/accept", accept)
    sim.sip.drop_sideband_after = 1.0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?call_id={call.call_id}", headers=AUTH
        ) as ws,
    ):
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert call.state == "accepted"
    assert sim.recorder.events_named("sip_sideband_dropped") == [{"after": 1.0}]
    await post(sim, f"/realtime/calls/{call.call_id}/hangup")
    await placing


async def test_stranger_and_control_endpoints(
    sim: Simulator, app: FakeIntegration, webhook: OpenAIWebhook
) -> None:
    """A stranger's call is announced like any; the control API shows the project."""
    stranger = await sim.sip.stranger_calls()
    assert webhook.events[0]["data"]["call_id"] == stranger.call_id
    assert not any(
        h["name"].lower() == "x-wake-token"
        for h in webhook.events[0]["data"]["sip_headers"]
    )
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim.base_url}/_sim/openai") as response:
            assert await response.json() == {
                "project_id": DEFAULT_OPENAI_PROJECT,
                "webhook_url": app.url("/hook"),
                "webhook_secret": DEFAULT_WEBHOOK_SECRET,
            }
        async with session.post(
            f"{sim.base_url}/_sim/openai/webhook", json={"url": "ftp://x"}
        ) as response:
            assert response.status == 400
        async with session.post(
            f"{sim.base_url}/_sim/openai/webhook", json={"url": None}
        ) as response:
            assert (await response.json())["webhook_url"] is None
    assert sim.sip.webhook_url is None
