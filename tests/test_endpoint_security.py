"""Every endpoint the integration registers refuses what is not Twilio (or OpenAI), before any work.

One table: each route the integration adds to Home Assistant's HTTP server (and
the webhook it registers for OpenAI's SIP calls) against each way of knocking
on it that is not the real thing: no signature, a wrong one, a signature for
another URL or another scheme, ids never issued, a replay once the call is
over, a body or frame too big, the wrong method. Each must answer 4xx (or close
the socket) and cause nothing: no request to Twilio or OpenAI, no OpenAI
session, no change to the call, the sleeper, the test tokens or the issues.

A route registered without a row here fails test_every_route_is_covered.

By design, a signed TwiML request for a call that has just ended gets a polite
<Hangup/> (200) instead of a 404, and a signed status callback 204: Twilio
would otherwise tell a person on the line that "an application error has
occurred". Those replays are still checked to cause nothing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from homeassistant.components import webhook
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from twilio.request_validator import RequestValidator

from custom_components.wakeup_coach import realtime, voice_engine
from custom_components.wakeup_coach.call import Call
from custom_components.wakeup_coach.call_session import CallState
from custom_components.wakeup_coach.const import (
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_TRANSPORT,
    CONF_RING_TIMEOUT,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DOMAIN,
    SERVICE_CALL,
    SERVICE_HANG_UP,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.selftest import TokenUse, tickets
from custom_components.wakeup_coach.selftest_view import MAX_ECHO_BYTES
from custom_components.wakeup_coach.stream_view import MAX_FRAME_BYTES
from custom_components.wakeup_coach.views import MAX_BODY_BYTES
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_PROJECT,
    DEFAULT_WEBHOOK_SECRET,
)
from simulator.phone_network import CallRecord
from simulator.server import Simulator
from simulator.sleepers import Answer, SleeperScript

from .conftest import ENTRY_ID, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID, Live, until

WEBHOOK_ID = "fedcba9876543210" * 4
RINGING = SleeperScript(
    name="ringing", description="rings", answer=Answer.HUMAN, ring_seconds=10_000
)
HANG_UP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'

# Every route, as aiohttp knows it, and the row of the table that covers it.
ROUTES = {
    "/api/wakeup_coach/call/{call_id}/{action}/{token}": "twiml",
    "/api/wakeup_coach/call/{call_id}/{action}": "callback",
    "/api/wakeup_coach/stream/{call_id}/{token}": "stream",
    "/api/wakeup_coach/call/selftest/{token}": "selftest_twiml",
    "/api/wakeup_coach/stream/selftest/{token}": "selftest_stream",
}
WEBHOOK_ROWS = {"sip_webhook"}

# What each way in must get: a status, "closed" (a WebSocket closed on it), or
# "ignored" (answered as documented above, with no effect).
MATRIX: dict[str, dict[str, int | str]] = {
    "twiml": {
        "no_signature": 403,
        "wrong_signature": 403,
        "other_url": 403,
        "other_scheme": 403,
        "unknown_call": 404,
        "unknown_token": 404,
        "oversized_body": 413,
        "wrong_method": 405,
        "finished_call": "ignored",
    },
    "callback": {
        "no_signature": 403,
        "wrong_signature": 403,
        "other_url": 403,
        "other_scheme": 403,
        "unknown_call": 404,
        "unknown_token": 404,  # an endpoint name never issued
        "oversized_body": 413,
        "wrong_method": 405,
        "finished_call": "ignored",
    },
    "stream": {
        "no_signature": 403,
        "wrong_signature": 403,
        "other_url": 403,
        "other_scheme": 403,
        "unknown_call": 404,
        "unknown_token": 404,
        "oversized_frame": "closed",
        "wrong_method": 405,
        "not_an_upgrade": 400,
        "finished_call": 404,
    },
    "selftest_twiml": {
        "no_signature": 403,
        "wrong_signature": 403,
        "other_url": 403,
        "other_scheme": 403,
        "unknown_token": 404,
        "expired_token": 404,
        "oversized_body": 413,
        "wrong_method": 405,
        "replay": 404,
    },
    "selftest_stream": {
        "no_signature": 403,
        "wrong_signature": 403,
        "other_url": 403,
        "other_scheme": 403,
        "unknown_token": 404,
        "expired_token": 404,
        "oversized_frame": "closed",
        "wrong_method": 405,
        "not_an_upgrade": 400,
        "replay": 404,
    },
    # Standard Webhooks sign the id, the time and the body, not the URL: there is
    # no "other URL or scheme" to sign. An unknown webhook id gets Home Assistant's
    # own answer (200, so that ids cannot be probed), and nothing happens.
    "sip_webhook": {
        "no_signature": 401,
        "wrong_signature": 401,
        "stale": 400,
        "replay": "ignored",
        "unknown_id": "ignored",
        "oversized_body": 413,
        "wrong_method": 405,
    },
}


def sign(url: str, params: dict[str, str] | None = None, token: str = "") -> str:
    return str(
        RequestValidator(token or DEFAULT_AUTH_TOKEN).compute_signature(
            url, params or {}
        )
    )


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, twenty times faster than real time."""
    sim = Simulator(speed=20)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The integration's own clocks, in simulated time like everything else."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", simulator.clock.speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 600.0)


@pytest.fixture(autouse=True)
def registered_webhooks(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The webhook ids the integration registers with Home Assistant."""
    ours: set[str] = set()
    register = webhook.async_register

    def spy(
        hass: Any, domain: str, name: str, webhook_id: str, *args: Any, **kw: Any
    ) -> None:
        if domain == DOMAIN:
            ours.add(webhook_id)
        register(hass, domain, name, webhook_id, *args, **kw)

    monkeypatch.setattr(webhook, "async_register", spy)
    return ours


@pytest.fixture
def mock_config_entry(
    account_data: dict[str, Any], sleeper_data: dict[str, Any]
) -> MockConfigEntry:
    """An entry with SIP set up (so its webhook exists) whose live calls use Media Streams."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach …0100",
        unique_id=f"{DEFAULT_ACCOUNT_SID}_{DEFAULT_FROM_NUMBER}",
        entry_id=ENTRY_ID,
        data=account_data,
        options={
            CONF_REALTIME_TRANSPORT: "media_stream",
            CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT,
            CONF_WEBHOOK_SECRET: DEFAULT_WEBHOOK_SECRET,
            CONF_SIP_WEBHOOK_ID: WEBHOOK_ID,
            CONF_RING_TIMEOUT: 120,
        },
        subentries_data=[
            {
                "data": sleeper_data,
                "subentry_id": SLEEPER_SUBENTRY_ID,
                "subentry_type": SUBENTRY_SLEEPER,
                "title": "Alice",
                "unique_id": SLEEPER_NUMBER,
            }
        ],
    )


@dataclass
class Target:
    """A realtime call that rings, answered by the test playing Twilio."""

    live: Live
    record: CallRecord
    call: Call
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> Any:
        return self.live.client

    def openai_sessions(self) -> int:
        return len(self.live.simulator.recorder.events_named("realtime_connected"))

    def footprint(self, *, opened: bool = False) -> dict[str, Any]:
        """Everything a request could change or cause.

        `opened`: a correctly signed socket was opened (to send it an oversized
        frame), which rightly uses up its single-use token.
        """
        session = self.call.session
        issues = ir.async_get(self.live.hass).issues
        found = {
            "requests to Twilio and OpenAI": len(self.live.simulator.recorder.requests),
            "OpenAI sessions": self.openai_sessions(),
            "call state": session.state,
            "call tokens": dict(session._tokens),
            "transcript": len(session.transcript),
            "in progress": self.live.sleeper.call_in_progress,
            "sleeper settings": self.live.sleeper.settings,
            "test tokens": len(tickets(self.live.hass)),
            "issues": {key for key in issues if key[0] == DOMAIN},
        }
        if opened:
            del found["call tokens"], found["test tokens"]
        return found

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "CallSid": self.record.sid,
            "CallStatus": "in-progress",
            "SequenceNumber": "50",
            **extra,
        }

    async def post(
        self,
        url: str,
        params: dict[str, str],
        signature: str | None,
        *,
        path: str | None = None,
        body: bytes | None = None,
    ) -> tuple[int, str]:
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await self.client.post(
            path or urlsplit(url).path,
            data=body if body is not None else params,
            headers=headers,
        )
        return response.status, await response.text()

    async def upgrade(
        self, url: str, signature: str | None, *, path: str | None = None
    ) -> aiohttp.ClientWebSocketResponse | int:
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        try:
            return await self.client.ws_connect(
                path or urlsplit(url).path, headers=headers
            )
        except aiohttp.WSServerHandshakeError as err:
            return err.status


@pytest.fixture
async def target(live: Live) -> AsyncGenerator[Target]:
    """The call, its TwiML fetched as Twilio would: every URL of it is known and live."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    live.simulator.sip.webhook_url = f"{live.base_url}/api/webhook/{WEBHOOK_ID}"
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    record = await waiting
    call = live.entry.runtime_data.calls.calls_of()[0]
    await until(lambda: call.session.state is CallState.RINGING)
    found = Target(live, record, call)
    voice = record.url
    assert voice is not None
    assert record.status_callback is not None
    params = found.params()
    status, document = await found.post(voice, params, sign(voice, params))
    assert status == 200, document
    stream = document.split('<Stream url="')[1].split('"')[0]
    connect = document.split('<Connect action="')[1].split('"')[0]
    found.urls = {
        "twiml": connect,
        "callback": record.status_callback,
        "stream": stream,
    }
    await until(lambda: found.openai_sessions() == 1)  # opened with the TwiML
    yield found
    if call.session.active:
        await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
        await live.wait_idle()


def test_the_matrix_is_complete() -> None:
    """Every route has its row; every row knocks the ways that apply to its kind."""
    assert set(ROUTES.values()) | WEBHOOK_ROWS == set(MATRIX)
    for row in ("twiml", "callback", "stream", "selftest_twiml", "selftest_stream"):
        assert {"no_signature", "wrong_signature", "other_url", "other_scheme"} <= set(
            MATRIX[row]
        )
        assert "wrong_method" in MATRIX[row]
        assert {"oversized_body", "oversized_frame"} & set(MATRIX[row])


async def test_every_route_is_covered(
    target: Target, registered_webhooks: set[str]
) -> None:
    """The routes on Home Assistant's server and the webhooks are exactly the table's."""
    app = target.live.hass.http.app
    ours = {
        resource.canonical
        for resource in app.router.resources()
        if resource.canonical.startswith("/api/wakeup_coach")
    }
    assert ours == set(ROUTES)
    assert registered_webhooks == {WEBHOOK_ID}


CASES = [(row, case) for row, cases in MATRIX.items() for case in cases]


@pytest.mark.parametrize(("row", "case"), CASES)
async def test_refused_before_any_work(target: Target, row: str, case: str) -> None:
    """Each way in that is not the real thing gets its answer and causes nothing."""
    knock = KNOCKS[row]
    expected = MATRIX[row][case]
    hass = target.live.hass
    await knock(target, "prepare")  # what a real run holds (the self-test's tokens)
    if case == "finished_call":
        await hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
        await target.record.done.wait()
        await target.live.wait_idle()
        # The OpenAI session opened with the TwiML is closed, and counted, by now.
        recorder = target.live.simulator.recorder
        await until(lambda: bool(recorder.requests_to("openai", "/v1/realtime")))
    elif case in ("replay", "expired_token"):
        await knock(target, f"prepare_{case}")
    await hass.async_block_till_done()
    opened = case == "oversized_frame"
    before = target.footprint(opened=opened)
    outcome = await knock(target, case)
    await hass.async_block_till_done()
    assert outcome == expected
    assert target.footprint(opened=opened) == before


# --- how each row knocks -------------------------------------------------------------


def _swap_scheme(url: str) -> str:
    scheme, rest = url.split("://", 1)
    other = {"http": "https", "https": "http", "ws": "wss", "wss": "ws"}[scheme]
    return f"{other}://{rest}"


def _other_last(url: str, value: str = "never-issued-0123456789") -> str:
    return url.rsplit("/", 1)[0] + f"/{value}"


async def _post_knock(
    target: Target, url: str, other: str, case: str, *, params: dict[str, str]
) -> int | str:
    """A POST endpoint of a call: Twilio's TwiML and callback URLs."""
    if case == "no_signature":
        return (await target.post(url, params, None))[0]
    if case == "wrong_signature":
        return (await target.post(url, params, "bm90IGEgc2lnbmF0dXJl"))[0]
    if case == "other_url":
        return (await target.post(url, params, sign(other, params)))[0]
    if case == "other_scheme":
        return (await target.post(url, params, sign(_swap_scheme(url), params)))[0]
    if case == "unknown_call":
        forged = url.replace(target.call.call_id, "x" * 32)
        return (await target.post(forged, params, sign(forged, params)))[0]
    if case == "unknown_token":
        forged = _other_last(url, "dance")
        return (await target.post(forged, params, sign(forged, params)))[0]
    if case == "oversized_body":
        body = b"SpeechResult=" + b"a" * MAX_BODY_BYTES
        return (await target.post(url, {}, sign(url, params), body=body))[0]
    if case == "wrong_method":
        response = await target.client.get(urlsplit(url).path)
        return int(response.status)
    if case == "finished_call":
        status, text = await target.post(url, params, sign(url, params))
        return "ignored" if (status, text) in ((200, HANG_UP), (204, "")) else status
    raise AssertionError(case)


async def _twiml(target: Target, case: str) -> int | str:
    if case == "prepare":
        return case
    return await _post_knock(
        target,
        target.urls["twiml"],
        target.urls["callback"],
        case,
        params=target.params(),
    )


async def _callback(target: Target, case: str) -> int | str:
    if case == "prepare":
        return case
    return await _post_knock(
        target,
        target.urls["callback"],
        target.urls["twiml"],
        case,
        params=target.params(CallStatus="completed"),
    )


async def _socket_knock(
    target: Target, url: str, other: str, case: str, *, too_big: int
) -> int | str:
    """A WebSocket endpoint: the Media Stream, or the self-test's."""
    if case == "no_signature":
        result = await target.upgrade(url, None)
    elif case == "wrong_signature":
        result = await target.upgrade(url, "bm90IGEgc2lnbmF0dXJl")
    elif case == "other_url":
        result = await target.upgrade(url, sign(other))
    elif case == "other_scheme":
        result = await target.upgrade(url, sign(_swap_scheme(url)))
    elif case == "unknown_call":
        forged = url.replace(target.call.call_id, "x" * 32)
        result = await target.upgrade(forged, sign(forged))
    elif case in ("unknown_token", "expired_token", "replay", "finished_call"):
        forged = _other_last(url) if case == "unknown_token" else url
        result = await target.upgrade(forged, sign(forged))
    elif case == "wrong_method":
        response = await target.client.post(
            urlsplit(url).path, headers={"X-Twilio-Signature": sign(url)}
        )
        return int(response.status)
    elif case == "not_an_upgrade":
        response = await target.client.get(
            urlsplit(url).path, headers={"X-Twilio-Signature": sign(url)}
        )
        return int(response.status)
    elif case == "oversized_frame":
        ws = await target.upgrade(url, sign(url))
        assert not isinstance(ws, int)
        await ws.send_str("x" * (too_big + 1))
        message = await ws.receive()
        closed = ws.closed or message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
        await ws.close()
        return (
            "closed"
            if closed and message.type is not aiohttp.WSMsgType.TEXT
            else "open"
        )
    else:
        raise AssertionError(case)
    if isinstance(result, int):
        return result
    await result.close()
    return "upgraded"


async def _stream(target: Target, case: str) -> int | str:
    """The call's Media Stream.

    Its oversized frame goes through the real, correctly signed stream: the frame
    ends it, and no second OpenAI session is ever opened for it.
    """
    if case == "prepare":
        return case
    return await _socket_knock(
        target,
        target.urls["stream"],
        target.urls["twiml"],
        case,
        too_big=MAX_FRAME_BYTES,
    )


def _selftest_urls(target: Target) -> tuple[str, str]:
    """Fresh test tokens for both self-test endpoints (as a self-test run would hold)."""
    base = target.live.base_url
    store = tickets(target.live.hass)
    _, twiml = store.issue(TokenUse.TWIML, base, DEFAULT_AUTH_TOKEN)
    _, stream = store.issue(
        TokenUse.STREAM, base.replace("http", "ws", 1), DEFAULT_AUTH_TOKEN
    )
    target.urls["selftest_twiml"], target.urls["selftest_stream"] = (
        twiml.url,
        stream.url,
    )
    return twiml.url, stream.url


async def _selftest_prepare(target: Target, case: str, use: str) -> None:
    if case == "prepare":
        _selftest_urls(target)
        return
    twiml, stream = target.urls["selftest_twiml"], target.urls["selftest_stream"]
    if case == "prepare_replay":
        if use == "twiml":
            form = {"Nonce": "abc"}
            assert (await target.post(twiml, form, sign(twiml, form)))[0] == 200
        else:
            ws = await target.upgrade(stream, sign(stream))
            assert not isinstance(ws, int)
            await ws.send_str(json.dumps({"event": "echo", "nonce": "abc"}))
            assert (await ws.receive()).type is aiohttp.WSMsgType.TEXT
            await ws.close()
    elif case == "prepare_expired_token":
        store = tickets(target.live.hass)
        for token, ticket in list(store._tickets.items()):
            store._tickets[token] = type(ticket)(
                ticket.use, ticket.url, ticket.auth_token, time.monotonic() - 1
            )


async def _selftest_twiml(target: Target, case: str) -> int | str:
    if case.startswith("prepare"):
        await _selftest_prepare(target, case, "twiml")
        return "prepared"
    url, other = target.urls["selftest_twiml"], target.urls["selftest_stream"]
    form = {"Nonce": "abc"}
    if case in ("expired_token", "replay"):
        return (await target.post(url, form, sign(url, form)))[0]
    return await _post_knock(target, url, other, case, params=form)


async def _selftest_stream(target: Target, case: str) -> int | str:
    if case.startswith("prepare"):
        await _selftest_prepare(target, case, "stream")
        return "prepared"
    url, other = target.urls["selftest_stream"], target.urls["selftest_twiml"]
    return await _socket_knock(target, url, other, case, too_big=MAX_ECHO_BYTES)


async def _sip_webhook(target: Target, case: str) -> int | str:
    sip = target.live.simulator.sip
    event = {
        "object": "event",
        "id": "evt_security",
        "type": "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {"call_id": "rtc_stranger", "sip_headers": []},
    }
    url = sip.webhook_url
    assert url is not None
    if case == "prepare":
        return case
    if case == "prepare_replay":
        assert await sip.deliver(event, webhook_id="wh_replayed") == 200
        await until(
            lambda: target.live.simulator.recorder.requests_to("openai", "reject")
        )
        return "prepared"
    if case == "no_signature":
        response = await target.client.post(urlsplit(url).path, data=json.dumps(event))
        return int(response.status)
    if case == "wrong_signature":
        return await sip.deliver(event, signature="v1,bm90IGEgc2lnbmF0dXJl") or 0
    if case == "stale":
        return await sip.deliver(event, timestamp=int(time.time()) - 3600) or 0
    if case == "replay":
        status = await sip.deliver(event, webhook_id="wh_replayed")
        return "ignored" if status == 200 else status or 0
    if case == "unknown_id":
        response = await target.client.post(
            "/api/webhook/" + "0" * 64, data=json.dumps(event)
        )
        return "ignored" if response.status == 200 else int(response.status)
    if case == "oversized_body":
        response = await target.client.post(urlsplit(url).path, data=b"x" * (65 * 1024))
        return int(response.status)
    if case == "wrong_method":
        response = await target.client.get(urlsplit(url).path)
        return int(response.status)
    raise AssertionError(case)


KNOCKS: dict[str, Callable[[Target, str], Any]] = {
    "twiml": _twiml,
    "callback": _callback,
    "stream": _stream,
    "selftest_twiml": _selftest_twiml,
    "selftest_stream": _selftest_stream,
    "sip_webhook": _sip_webhook,
}
