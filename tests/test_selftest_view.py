"""The self-test's own endpoints, as Twilio would meet them when something goes wrong.

tests/test_endpoint_security.py knocks on them without credentials; here each
request is the self-test's own (a fresh, correctly signed test token), and what
goes wrong is the body or the echo: the endpoint must answer 4xx or close the
socket without an echo, and never spend a test token on a request it refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json
from urllib.parse import urlsplit

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from custom_components.wakeup_coach import selftest_view, views
from custom_components.wakeup_coach.selftest import Ticket, TokenUse, tickets
from custom_components.wakeup_coach.selftest_view import MAX_NONCE_LENGTH
from simulator.accounts import DEFAULT_AUTH_TOKEN

from .conftest import Live

FORM = {"Nonce": "abc"}


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return str(
        RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(url, params or {})
    )


def twiml_ticket(live: Live) -> Ticket:
    _, ticket = tickets(live.hass).issue(
        TokenUse.TWIML, live.base_url, DEFAULT_AUTH_TOKEN
    )
    return ticket


def stream_ticket(live: Live) -> Ticket:
    _, ticket = tickets(live.hass).issue(
        TokenUse.STREAM, live.base_url.replace("http", "ws", 1), DEFAULT_AUTH_TOKEN
    )
    return ticket


async def answer_with_proof(live: Live, ticket: Ticket) -> None:
    """The ticket is still good: a correct request gets this Home Assistant's proof."""
    response = await live.client.post(
        urlsplit(ticket.url).path,
        data=FORM,
        headers={"X-Twilio-Signature": sign(ticket.url, FORM)},
    )
    assert response.status == 200
    assert ticket.proof("abc") in await response.text()


async def test_undecodable_body(live: Live) -> None:
    """A body that cannot be decoded is a 400, not a server error; the token stays good."""
    ticket = twiml_ticket(live)
    response = await live.client.post(
        urlsplit(ticket.url).path,
        data=b"not deflate data",
        headers={
            "Content-Encoding": "deflate",
            "Content-Type": "application/x-www-form-urlencoded",
            # aiohttp drops a connection whose body broke: the next request opens another.
            "Connection": "close",
            "X-Twilio-Signature": sign(ticket.url, FORM),
        },
    )
    assert response.status == 400
    await answer_with_proof(live, ticket)


async def test_trickling_body(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body sent a few bytes at a time is cut off with 408; the token stays good."""
    monkeypatch.setattr(views, "BODY_DEADLINE_SECONDS", 0.3)
    ticket = twiml_ticket(live)

    async def trickle() -> AsyncGenerator[bytes]:
        for _ in range(20):
            yield b"a"
            await asyncio.sleep(0.1)

    response = await live.client.post(urlsplit(ticket.url).path, data=trickle())
    assert response.status == 408
    await answer_with_proof(live, ticket)


async def echo(live: Live, ticket: Ticket, message: str | None) -> aiohttp.WSMessage:
    """Open the test stream, send `message` (or nothing), and what comes back first."""
    ws = await live.client.ws_connect(
        urlsplit(ticket.url).path, headers={"X-Twilio-Signature": sign(ticket.url)}
    )
    if message is not None:
        await ws.send_str(message)
    async with asyncio.timeout(10):
        answer = await ws.receive()
    await ws.close()
    return answer


async def test_echo_of_the_longest_nonce(live: Live) -> None:
    """A nonce of the longest length allowed is echoed with this Home Assistant's proof."""
    ticket = stream_ticket(live)
    nonce = "n" * MAX_NONCE_LENGTH
    answer = await echo(live, ticket, json.dumps({"event": "echo", "nonce": nonce}))
    assert answer.type is aiohttp.WSMsgType.TEXT
    assert json.loads(answer.data) == {"event": "echo", "proof": ticket.proof(nonce)}


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps(["echo", "abc"]),  # JSON, but not an object
        json.dumps({"event": "echo"}),
        json.dumps({"event": "echo", "nonce": 12345}),
        json.dumps({"event": "echo", "nonce": "n" * (MAX_NONCE_LENGTH + 1)}),
    ],
)
async def test_no_echo_for_a_bad_nonce(live: Live, message: str) -> None:
    """Anything but a short string nonce closes the socket without an echo, token spent."""
    ticket = stream_ticket(live)
    answer = await echo(live, ticket, message)
    assert answer.type is aiohttp.WSMsgType.CLOSE
    # The upgrade was accepted, so its single-use token is spent.
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await echo(live, ticket, None)
    assert err.value.status == 404


async def test_no_echo_when_nothing_is_sent(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that never sends its nonce is closed after the echo's time, without an echo."""
    monkeypatch.setattr(selftest_view, "ECHO_SECONDS", 0.2)
    answer = await echo(live, stream_ticket(live), None)
    assert answer.type is aiohttp.WSMsgType.CLOSE
