"""The simulator's HTTP server: Twilio and OpenAI on one port."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import openai_api, twilio_rest
from .accounts import SimulatedWorld
from .faults import Fault, Faults
from .recorder import RecordedRequest, Recorder

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def service_of(path: str) -> str:
    """Which simulated service a path belongs to."""
    return "openai" if path.startswith("/v1/") else "twilio"


class Simulator:
    """Twilio and OpenAI as the integration sees them, on 127.0.0.1."""

    def __init__(self, world: SimulatedWorld | None = None) -> None:
        """Prepare the simulated world; nothing listens until `start`."""
        self.world = world or SimulatedWorld()
        self.recorder = Recorder()
        self.faults = Faults()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:port of the running server."""
        if self.port is None:
            msg = "the simulator is not running"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self.port}"

    @property
    def twilio_base_url(self) -> str:
        """What the integration's "Twilio API base URL" should be."""
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        """What the integration's "OpenAI base URL" should be."""
        return f"{self.base_url}/v1"

    def fail(self, service: str, match: str, **kwargs: Any) -> None:
        """Make the next request(s) matching `match` fail (see Fault)."""
        self.faults.add(Fault(service, match, **kwargs))

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        service = service_of(request.path)
        data: dict[str, Any] = {}
        if (
            request.method == "POST"
            and request.content_type == "application/x-www-form-urlencoded"
        ):
            form = await request.post()
            data = {
                key: form.getall(key) if len(form.getall(key)) > 1 else form[key]
                for key in form
            }
        if fault := self.faults.take(service, request.method, request.path):
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.disconnect:
                assert request.transport is not None  # noqa: S101
                request.transport.close()
                raise web.HTTPInternalServerError
            self.recorder.request(
                RecordedRequest(
                    service, request.method, request.path, fault.status, data
                )
            )
            return web.json_response(
                {"message": "injected fault", "code": 20500}, status=fault.status
            )
        try:
            response = await handler(request)
        except web.HTTPException as err:
            self.recorder.request(
                RecordedRequest(service, request.method, request.path, err.status, data)
            )
            raise
        self.recorder.request(
            RecordedRequest(
                service, request.method, request.path, response.status, data
            )
        )
        return response

    def build_app(self) -> web.Application:
        """The aiohttp application with every simulated route."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(twilio_rest.routes(self))
        app.add_routes(openai_api.routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen; port 0 picks a free one."""
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001
        assert isinstance(server, asyncio.Server)  # noqa: S101
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
