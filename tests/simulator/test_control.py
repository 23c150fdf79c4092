"""The simulator's own control endpoints."""

from __future__ import annotations

import aiohttp
from aiohttp import web
import pytest

from simulator.server import Simulator

from .conftest import SLEEPER, FakeIntegration, place, twiml


async def test_scripts_and_calls(sim: Simulator, app: FakeIntegration) -> None:
    """Choose a script per number or as default; calls are listed with their transcript."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{sim.base_url}/_sim/scripts", json={"script": "nope"}
        ) as response:
            assert response.status == 400
        async with session.post(
            f"{sim.base_url}/_sim/scripts", json={"script": "silent", "number": SLEEPER}
        ) as response:
            assert (await response.json())["numbers"] == {SLEEPER: "silent"}
        async with session.post(
            f"{sim.base_url}/_sim/scripts", json={"script": "sleepy"}
        ) as response:
            assert (await response.json())["default"] == "sleepy"

        async def voice(request: web.Request, form: dict[str, str]) -> web.Response:
            return twiml("<Say>Hello</Say>")

        async def ok(request: web.Request, form: dict[str, str]) -> web.Response:
            return web.Response()

        app.handlers |= {"/voice": voice, "/status": ok}
        record = await place(sim, app)
        async with session.get(f"{sim.base_url}/_sim/calls") as response:
            calls = await response.json()
        assert calls[0]["sid"] == record.sid
        assert calls[0]["script"] == "silent"
        assert calls[0]["transcript"] == [{"speaker": "coach", "text": "Hello"}]
        async with session.get(f"{sim.base_url}/_sim/") as response:
            page = await response.text()
        assert "Hello" in page
        assert record.sid[:10] in page


CONTROL_ROUTES = [
    ("GET", "/_sim/"),
    ("GET", "/_sim/calls"),
    ("GET", "/_sim/scripts"),
    ("POST", "/_sim/scripts"),
]


@pytest.mark.parametrize(("method", "path"), CONTROL_ROUTES)
@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:8124",
        "127.0.0.1.attacker.example",
        "localhost.attacker.example:8124",
        "192.0.2.2:8124",
        "[::1].attacker.example",
        "",
    ],
)
async def test_control_refuses_a_foreign_host(
    sim: Simulator, method: str, path: str, host: str
) -> None:
    """A page whose name was rebound to 127.0.0.1 sends its own Host: 403 on every route."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{sim.base_url}{path}",
            json={"script": "voicemail"},
            headers={"Host": host},
        ) as response,
    ):
        assert response.status == 403


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost:8124", "LOCALHOST", "[::1]:1", "127.0.0.1:65535"]
)
async def test_control_accepts_a_loopback_host(sim: Simulator, host: str) -> None:
    """127.0.0.1, localhost and [::1] with any port or none may set the script."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.base_url}/_sim/scripts",
            json={"script": "voicemail"},
            headers={"Host": host},
        ) as response,
    ):
        assert (response.status, sim.network.default_script.name) == (200, "voicemail")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",  # curl -d without -H
        "text/plain",  # what a page may POST to another origin without a preflight
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_control_post_needs_json(
    sim: Simulator, content_type: str | None
) -> None:
    """A POST that does not declare JSON is refused with 415 and changes nothing."""
    before = sim.network.default_script.name
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.base_url}/_sim/scripts",
            data=b'{"script": "voicemail"}',
            headers={"Content-Type": content_type} if content_type else {},
            skip_auto_headers=["Content-Type"],
        ) as response,
    ):
        assert (response.status, sim.network.default_script.name) == (415, before)


@pytest.mark.parametrize("body", [b"{not json", b'["voicemail"]'])
async def test_control_post_needs_a_json_object(sim: Simulator, body: bytes) -> None:
    """A body that is not a JSON object is a 400, not a server error."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.base_url}/_sim/scripts",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400
