"""OpenAI's SIP calls: the webhook's incoming call, the SIP address, the sessions, the REST control."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import pytest

from custom_components.wakeup_coach.models import EngineKind, RealtimeTransport
from custom_components.wakeup_coach.modes import choose_transport
from custom_components.wakeup_coach.openai_sip import (
    IncomingCall,
    SipControl,
    SipControlError,
    live_session,
    parse_incoming,
    realtime_session,
    sip_uri,
)
from simulator.accounts import DEFAULT_OPENAI_KEY
from simulator.server import Simulator
from simulator.twiml import parse_sip_uri

from .conftest import CLOSED_PORT_URL


def test_parse_realtime_incoming() -> None:
    """realtime.call.incoming: the call id and the SIP headers."""
    call = parse_incoming(
        {
            "type": "realtime.call.incoming",
            "data": {
                "call_id": "rtc_1",
                "sip_headers": [
                    {"name": "From", "value": "sip:+1555@example"},
                    {"name": "x-wake-token", "value": "abc"},
                    "junk",
                ],
            },
        }
    )
    assert call == IncomingCall(
        EngineKind.REALTIME,
        "rtc_1",
        (("From", "sip:+1555@example"), ("x-wake-token", "abc")),
    )
    assert call.header("X-Wake-Token") == "abc"
    assert call.header("X-Missing") is None


@pytest.mark.parametrize("kind", ["live.transport.incoming", "live.call.incoming"])
def test_parse_live_incoming(kind: str) -> None:
    """GPT-Live's events (and the alpha's name) carry a session id."""
    call = parse_incoming(
        {
            "type": kind,
            "data": {"type": "sip", "session_id": "live_1", "sip_headers": []},
        }
    )
    assert call == IncomingCall(EngineKind.LIVE, "live_1", ())


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {"type": "response.completed", "data": {}},
        {"type": "realtime.call.incoming"},
        {"type": "realtime.call.incoming", "data": {"sip_headers": []}},
        {"type": "realtime.call.incoming", "data": {"call_id": "", "sip_headers": []}},
        {"type": "realtime.call.incoming", "data": {"call_id": "rtc_1"}},
        {
            "type": "live.transport.incoming",
            "data": {"call_id": "rtc_1", "sip_headers": []},
        },
    ],
)
def test_parse_refuses_what_is_no_incoming_call(event: Any) -> None:
    """Other events and malformed ones are no incoming call."""
    assert parse_incoming(event) is None


def test_sip_uri_as_twilio_parses_it() -> None:
    """The project's address over TLS with SRTP, and the token in an X- header."""
    uri = sip_uri("proj_abc", "tok-en_1")
    sip = parse_sip_uri(uri)
    assert (sip.user, sip.host) == ("proj_abc", "sip.api.openai.com")
    assert sip.params == {"transport": "tls", "secure": "true"}
    assert sip.headers == {"X-Wake-Token": "tok-en_1"}


def test_realtime_session_of_a_sip_call() -> None:
    """The Media Stream session without formats; the server cuts what the sleeper talks over."""
    session = realtime_session(
        model="gpt-realtime-2", voice="marin", language="de-DE", instructions="Hi"
    )
    assert "format" not in session["audio"]["input"]
    assert "format" not in session["audio"]["output"]
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["turn_detection"]["interrupt_response"] is True
    assert session["audio"]["input"]["turn_detection"]["create_response"] is False
    assert session["audio"]["input"]["transcription"]["language"] == "de"
    assert [tool["name"] for tool in session["tools"]] == ["end_call"]


def test_live_session_of_a_sip_call() -> None:
    """The session says it is "live", and has no audio format."""
    assert live_session(model="gpt-live-1", voice="cedar", instructions="Hi") == {
        "type": "live",
        "model": "gpt-live-1",
        "instructions": "Hi",
        "audio": {"output": {"voice": "cedar"}},
    }


@pytest.mark.parametrize(
    ("option", "configured", "unreachable", "chosen"),
    [
        ("media_stream", True, True, "media_stream"),
        ("sip", True, False, "sip"),
        ("auto", True, False, "media_stream"),
        ("auto", True, True, "sip"),
        ("auto", False, True, "media_stream"),
    ],
)
def test_choose_transport(
    option: str, configured: bool, unreachable: bool, chosen: str
) -> None:
    """Forced, or automatic: SIP only once the stream cannot connect and SIP is set up."""
    assert (
        choose_transport(
            RealtimeTransport(option),
            sip_configured=configured,
            stream_unreachable=unreachable,
        )
        == chosen
    )


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain client session."""
    async with aiohttp.ClientSession() as session:
        yield session


async def test_control_reports_openai_refusals(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """An unknown call: OpenAI's error code in the reason; a wrong key: its own."""
    control = SipControl(
        http, base_url=simulator.openai_base_url, api_key=DEFAULT_OPENAI_KEY
    )
    call = IncomingCall(EngineKind.REALTIME, "rtc_nobody", ())
    with pytest.raises(SipControlError) as raised:
        await control.accept(call, {"type": "realtime"})
    assert (raised.value.reason, raised.value.status) == (
        "openai_call_id_not_found",
        404,
    )
    simulator.fail("openai", "/reject", status=502)
    with pytest.raises(SipControlError) as raised:
        await control.reject(call)
    assert (raised.value.reason, raised.value.status) == ("openai_refused", 502)
    wrong_key = SipControl(http, base_url=simulator.openai_base_url, api_key="sk-x")
    with pytest.raises(SipControlError, match="openai_invalid_api_key"):
        await wrong_key.hangup(IncomingCall(EngineKind.LIVE, "live_nobody", ()))


async def test_control_unreachable(http: aiohttp.ClientSession) -> None:
    """Nothing answers: the reason says so."""
    control = SipControl(http, base_url=f"{CLOSED_PORT_URL}/v1", api_key="sk-x")
    with pytest.raises(SipControlError, match="openai_unreachable"):
        await control.hangup(IncomingCall(EngineKind.REALTIME, "rtc_1", ()))
