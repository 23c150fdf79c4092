"""A stand-in integration: a small web app whose TwiML and stream handlers each test sets."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
import pytest
from twilio.request_validator import RequestValidator

from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
)
from simulator.phone_network import CallRecord
from simulator.server import Simulator

SLEEPER = "+15550100111"
Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


def twiml(body: str) -> web.Response:
    """A TwiML response."""
    return web.Response(text=f"<Response>{body}</Response>", content_type="text/xml")


@dataclass
class FakeIntegration:
    """Records every request with whether its signature was valid."""

    validator: RequestValidator = field(
        default_factory=lambda: RequestValidator(DEFAULT_AUTH_TOKEN)
    )
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        """Absolute URL of a path on this app."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Check the signature, record, and run the handler set for the path."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = bool(self.validator.validate(str(request.url), form, signature))
        self.requests.append((request.path, form, valid))
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request, form)

    def statuses(self) -> list[str]:
        """CallStatus of every status callback, in order."""
        return [
            form["CallStatus"] for path, form, _ in self.requests if path == "/status"
        ]


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """A fast simulator: 50 times real time."""
    simulator = Simulator(speed=50)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def app(socket_enabled: None) -> AsyncGenerator[FakeIntegration]:
    """The stand-in integration, listening on 127.0.0.1."""
    fake = FakeIntegration()
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", fake.dispatch)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake
    await runner.cleanup()


def auth_header() -> dict[str, str]:
    """Basic auth for the simulated account."""
    token = base64.b64encode(
        f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()
    ).decode()
    return {"Authorization": f"Basic {token}"}


async def create_call(
    sim: Simulator, fields: list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    """POST Calls.json as the integration would."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.base_url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json",
            data=fields,
            headers=auth_header(),
        ) as response,
    ):
        return response.status, await response.json()


async def place(
    sim: Simulator,
    app: FakeIntegration,
    *,
    to: str = SLEEPER,
    extra: list[tuple[str, str]] | None = None,
) -> CallRecord:
    """Place a call to `to` that fetches /voice and reports to /status; wait until it ends."""
    fields = [
        ("To", to),
        ("From", DEFAULT_FROM_NUMBER),
        ("Url", app.url("/voice")),
        ("StatusCallback", app.url("/status")),
        *[
            ("StatusCallbackEvent", e)
            for e in ("initiated", "ringing", "answered", "completed")
        ],
        *(extra or []),
    ]
    status, body = await create_call(sim, fields)
    assert status == 201, body
    call = sim.network.calls[body["sid"]]
    await asyncio.wait_for(call.wait(), 20)
    return call.record
