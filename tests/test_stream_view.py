"""The Media Stream endpoint: only Twilio gets in, once, and garbage changes nothing.

It refuses anything that is not Twilio before a WebSocket or an OpenAI session
exists, serves each call's stream once, and survives malformed frames.

Upgrades are made by hand here (not by the simulated phone), so each test knows
exactly what was sent.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from dataclasses import dataclass
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from twilio.request_validator import RequestValidator

from custom_components.wakeup_coach.call import Call, stream_url
from custom_components.wakeup_coach.call_session import CallState
from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL, SERVICE_HANG_UP
from custom_components.wakeup_coach.realtime import RealtimeCall
from simulator import audio
from simulator.accounts import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from simulator.phone_network import CallRecord
from simulator.sleepers import Answer, SleeperScript

from .conftest import SLEEPER_NUMBER, Live, until

# Rings for ever: nothing answers, so nothing but the test touches the call.
RINGING = SleeperScript(
    name="ringing", description="rings", answer=Answer.HUMAN, ring_seconds=10_000
)


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return str(
        RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(url, params or {})
    )


@dataclass
class LiveCall:
    """A realtime call the test answers itself."""

    live: Live
    record: CallRecord
    call: Call

    @property
    def handler(self) -> RealtimeCall:
        handler = self.call.handler
        assert isinstance(handler, RealtimeCall)
        return handler

    def openai_sessions(self) -> int:
        """How many OpenAI sessions were ever opened."""
        recorder = self.live.simulator.recorder
        return len(recorder.events_named("realtime_connected"))

    async def answer(self) -> str:
        """Fetch the call's first TwiML as Twilio would; returns the stream URL in it."""
        voice = self.record.url
        assert voice is not None
        params = {
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "CallSid": self.record.sid,
            "CallStatus": "in-progress",
        }
        response = await self.live.client.post(
            urlsplit(voice).path,
            data=params,
            headers={"X-Twilio-Signature": sign(voice, params)},
        )
        document = await response.text()
        assert response.status == 200, document
        start = document.index('<Stream url="') + len('<Stream url="')
        return document[start : document.index('"', start)]

    def token(self, url: str) -> str:
        return url.rsplit("/", 1)[1]

    async def upgrade(
        self, url: str, signature: str | None, *, path: str | None = None
    ) -> aiohttp.ClientWebSocketResponse | int:
        """Open a WebSocket to `path` (default: the URL's own) signed with `signature`."""
        headers = {"X-Twilio-Signature": signature} if signature is not None else {}
        try:
            return await self.live.client.ws_connect(
                path or urlsplit(url).path, headers=headers
            )
        except aiohttp.WSServerHandshakeError as err:
            return err.status

    def footprint(self) -> tuple[Any, ...]:
        session = self.call.session
        return (
            self.openai_sessions(),
            session.state,
            dict(session._tokens),
            len(session.transcript),
            self.live.sleeper.call_in_progress,
        )


@pytest.fixture
async def live_call(live: Live) -> AsyncGenerator[LiveCall]:
    """A realtime call that rings; the test plays Twilio's part."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    live.hass.config_entries.async_update_entry(
        live.entry, options={"ring_timeout": 120}
    )
    await live.hass.async_block_till_done()
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
    )
    record = await waiting
    call = live.entry.runtime_data.calls.calls_of()[0]
    await until(lambda: call.session.state is CallState.RINGING)
    yield LiveCall(live, record, call)
    if call.session.active:
        await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
        await live.wait_idle()


async def test_nothing_before_the_twiml(live_call: LiveCall) -> None:
    """Before Twilio fetched the TwiML there is no stream to open, signed or not."""
    url = stream_url(live_call.call.session, "guessed-token")
    before = live_call.footprint()
    assert await live_call.upgrade(url, sign(url)) == 404
    assert live_call.footprint() == before
    assert live_call.openai_sessions() == 0


@pytest.mark.parametrize(
    "case",
    [
        "no signature",
        "empty signature",
        "garbage",
        "another account",
        "https instead of ws",
        "wss instead of ws",
        "query added",
        "another token",
        "unknown call",
        "not an upgrade",
        "wrong method",
    ],
)
async def test_bad_upgrades_are_refused(live_call: LiveCall, case: str) -> None:
    """Every bad upgrade gets a 4xx before any WebSocket; the real stream still works after."""
    url = await live_call.answer()
    await until(lambda: live_call.openai_sessions() == 1)  # opened with the TwiML
    before = live_call.footprint()
    path = urlsplit(url).path
    signature: str | None = sign(url)
    if case == "no signature":
        signature = None
    elif case == "empty signature":
        signature = ""
    elif case == "garbage":
        signature = "bm90IGEgc2lnbmF0dXJl"
    elif case == "another account":
        signature = RequestValidator("another-token").compute_signature(url, {})
    elif case == "https instead of ws":
        signature = sign(url.replace("ws://", "https://"))
    elif case == "wss instead of ws":
        signature = sign(url.replace("ws://", "wss://"))
    elif case == "query added":
        path += "?token=x"
    elif case == "another token":
        path = path.rsplit("/", 1)[0] + "/another-token"
        signature = sign(url.rsplit("/", 1)[0] + "/another-token")
    elif case == "unknown call":
        path = path.replace(live_call.call.call_id, "x" * 32)
        signature = sign(url.replace(live_call.call.call_id, "x" * 32))
    if case == "not an upgrade":
        response = await live_call.live.client.get(
            path, headers={"X-Twilio-Signature": sign(url)}
        )
        status = response.status
    elif case == "wrong method":
        response = await live_call.live.client.post(
            path, headers={"X-Twilio-Signature": sign(url)}
        )
        status = response.status
    else:
        result = await live_call.upgrade(url, signature, path=path)
        assert isinstance(result, int), "upgraded"
        status = result
    expected = {
        "another token": 404,
        "unknown call": 404,
        "not an upgrade": 400,
        "wrong method": 405,
    }.get(case, 403)
    assert status == expected
    assert live_call.footprint() == before
    # The real stream was not spent by the attempt.
    ws = await live_call.upgrade(url, sign(url))
    assert not isinstance(ws, int)
    await ws.close()


async def test_each_stream_is_served_once(live_call: LiveCall) -> None:
    """A replayed upgrade, while the stream runs or after the call, opens nothing."""
    url = await live_call.answer()
    first = await live_call.upgrade(url, sign(url))
    assert not isinstance(first, int)
    assert await live_call.upgrade(url, sign(url)) == 404
    await first.close()
    await live_call.live.hass.services.async_call(
        DOMAIN, SERVICE_HANG_UP, {}, blocking=True
    )
    await live_call.live.wait_idle()
    assert await live_call.upgrade(url, sign(url)) == 404
    assert live_call.openai_sessions() == 1


@pytest.fixture(scope="module")
def garbage() -> list[str | bytes]:
    """Frames drawn once, before any call.

    Hypothesis takes seconds to draw them, which a ringing call would not wait for.
    """
    return _frames(2000)


def _frames(count: int) -> list[str | bytes]:
    """Frames Twilio never sends, drawn by hypothesis (deterministically)."""
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
        ),
        max_leaves=10,
    )
    bad_media = st.fixed_dictionaries(
        {
            "event": st.just("media"),
            "streamSid": st.text(max_size=10),
            "media": st.one_of(
                st.none(),
                st.text(),
                st.fixed_dictionaries(
                    {
                        "payload": st.one_of(
                            st.text(alphabet="!@#$%^&*()\"'\\", min_size=1),
                            st.integers(),
                            st.none(),
                            st.just("abc"),  # bad padding
                            # Not ASCII: base64 decoding would raise, not reject.
                            st.text(
                                alphabet=st.characters(min_codepoint=128), min_size=1
                            ),
                            st.just("fn//AAAA\u00e9"),
                        )
                    }
                ),
            ),
        }
    )
    frame = st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        json_values.map(json.dumps),
        bad_media.map(json.dumps),
        st.sampled_from(["start", "stop", "mark", "clear", "dance"])
        .map(
            lambda event: json.dumps(
                {"event": event, "start": {"customParameters": {"token": "x"}}}
            )
        )
        .filter(lambda text: '"stop"' not in text),
        st.integers(min_value=17, max_value=64).map(lambda kb: "x" * kb * 1024),
    )
    frames: list[str | bytes] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(frame)
    def collect(value: str | bytes) -> None:
        frames.append(value)

    collect()
    return frames


async def test_garbage_frames_are_dropped_and_the_call_goes_on(
    garbage: list[str | bytes], live_call: LiveCall, caplog: pytest.LogCaptureFixture
) -> None:
    """Thousands of malformed frames: each kind logged once, no traceback.

    Nothing leaks, and the real audio that follows still reaches OpenAI.
    """
    url = await live_call.answer()
    ws = await live_call.upgrade(url, sign(url))
    assert not isinstance(ws, int)
    bridge = live_call.handler.bridge
    assert bridge is not None
    await until(lambda: bridge._ready)
    # Media before start is garbage too.
    payload = audio.silence(20)
    media = {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(payload).decode()},
    }
    await ws.send_str(json.dumps(media))
    await ws.send_str(
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    )
    await ws.send_str(
        json.dumps(
            {
                "event": "start",
                "streamSid": "MZ1",
                "start": {
                    "streamSid": "MZ1",
                    "callSid": live_call.record.sid,
                    "customParameters": {"token": live_call.token(url)},
                },
            }
        )
    )
    with caplog.at_level(logging.WARNING):
        for frame in garbage:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        # Real audio still flows to OpenAI after all that.
        openai = live_call.live.simulator.realtime.sessions[0]
        heard = openai.audio_ms
        for _ in range(10):
            await ws.send_str(json.dumps(media))
        await until(lambda: openai.audio_ms >= heard + 200)
    assert bridge.outcome is None  # still carrying the call
    assert "Traceback" not in caplog.text
    dropped = [r for r in caplog.records if "Dropped" in r.getMessage()]
    assert 5 <= len(dropped) == len({r.getMessage() for r in dropped})
    # Twilio ends the stream; then the call ends like any other.
    await ws.send_str(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    async with asyncio.timeout(10):
        async for _ in ws:  # what the coach said meanwhile, until the bridge closes
            pass
    assert ws.closed
    await live_call.live.hass.services.async_call(
        DOMAIN, SERVICE_HANG_UP, {}, blocking=True
    )
    await live_call.live.wait_idle()
    # The simulated phone never answered (the test played Twilio): Twilio cancels it.
    assert live_call.live.sleeper.settings.last_call_result == "canceled"
    await until(lambda: not live_call.live.simulator.realtime.sessions)
    assert not bridge._tasks
    assert not bridge._timers
