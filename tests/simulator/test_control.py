"""The simulator's own control endpoints."""

from __future__ import annotations

import aiohttp
from aiohttp import web

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
