"""The simulator: Twilio (REST, phone network, Media Streams) and OpenAI on one port."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import ssl
from typing import Any

import aiohttp
from aiohttp import web

from . import control, openai_api, openai_live, openai_realtime, twilio_rest
from .accounts import SimulatedWorld
from .audio import SpeechRegistry, SpeechSynthesizer
from .clock import SimClock
from .faults import Fault, Faults
from .media_stream import MediaStreams
from .phone_network import CallRecord, PhoneNetwork
from .recorder import RecordedRequest, Recorder
from .sip import SipService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ProofHook = Callable[[CallRecord], Awaitable[None]]


def service_of(path: str) -> str:
    """Which simulated service a path belongs to."""
    if path.startswith("/v1/"):
        return "openai"
    if path.startswith("/_sim"):
        return "control"
    return "twilio"


class Simulator:
    """Twilio and OpenAI as the integration sees them, on 127.0.0.1."""

    def __init__(
        self,
        world: SimulatedWorld | None = None,
        *,
        speed: float = 1.0,
        allow_insecure_streams: bool = True,
        use_espeak: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Prepare the simulated world; nothing listens until `start`.

        speed: how much faster than real time calls run (tests use 20-50).
        allow_insecure_streams: accept ws:// stream URLs (real Twilio wants wss://).
        ssl_context: what Twilio's requests to https/wss URLs trust (a test
        certificate authority, for a reverse proxy in front of Home Assistant).
        """
        self.world = world or SimulatedWorld()
        self.clock = SimClock(speed)
        self.recorder = Recorder()
        self.faults = Faults()
        self.network = PhoneNetwork(self)
        self.media_streams = MediaStreams(self)
        self.speech = SpeechRegistry()
        self.sleeper_voice = SpeechSynthesizer(use_espeak=use_espeak, voice="en-us")
        self.coach_voice = SpeechSynthesizer(use_espeak=use_espeak, voice="en-gb")
        self.realtime = openai_realtime.RealtimeService(self)
        self.live = openai_live.LiveService(self)
        self.sip = SipService(self)
        self.allow_insecure_streams = allow_insecure_streams
        self.ssl_context = ssl_context
        # Real seconds Twilio waits for a webhook (TwiML or status) before giving up.
        self.webhook_timeout = 15.0
        # Status callback events the network "loses" (Twilio does not resend them).
        self.lost_status_events: set[str] = set()
        self.call_hooks: list[Callable[[CallRecord], None]] = []
        self.chat_requests: list[dict[str, Any]] = []
        self.proof_hooks: list[ProofHook] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
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

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session the simulated Twilio uses to reach the integration."""
        if self._session is None:
            msg = "the simulator is not running"
            raise RuntimeError(msg)
        return self._session

    def fail(self, service: str, match: str, **kwargs: Any) -> None:
        """Make the next request(s) matching `match` fail (see Fault)."""
        self.faults.add(Fault(service, match, **kwargs))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, owned (and cancelled on stop) by the simulator."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_proof_hooks(self, record: CallRecord) -> None:
        """The sleeper got up: let the test or the development instance react."""
        self.recorder.event("proof", sid=record.sid, to=record.to)
        for hook in self.proof_hooks:
            await hook(record)

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
            data = twilio_rest.form_dict(await request.post())

        def record(status: int) -> None:
            self.recorder.request(
                RecordedRequest(service, request.method, request.path, status, data)
            )

        if fault := self.faults.take(service, request.method, request.path):
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.disconnect:
                assert request.transport is not None  # noqa: S101
                request.transport.close()
                raise web.HTTPInternalServerError
            if fault.status is not None:
                if fault.after_handler:
                    await handler(request)
                record(fault.status)
                if service == "openai":
                    # Also refuses a WebSocket upgrade: the handler never runs, so
                    # the client sees this status instead of 101, as with OpenAI.
                    return openai_api.fault_response(fault.status)
                return twilio_rest.twilio_error(
                    fault.status, 20500, "Simulated failure."
                )
        # No fault, or a delay-only one (status None): answer normally, after the delay.
        try:
            response = await handler(request)
        except web.HTTPException as err:
            record(err.status)
            raise
        record(response.status)
        return response

    def build_app(self) -> web.Application:
        """The aiohttp application with every simulated route."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(twilio_rest.routes(self))
        app.add_routes(openai_api.routes(self))
        app.add_routes(self.realtime.routes())
        app.add_routes(self.live.routes())
        app.add_routes(self.sip.routes())
        app.add_routes(control.routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen; port 0 picks a free one."""
        self._session = aiohttp.ClientSession(
            # The system's resolver, as for a Twilio that looks up the host name.
            connector=aiohttp.TCPConnector(
                ssl=self.ssl_context or True, resolver=aiohttp.ThreadedResolver()
            )
        )
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001
        assert isinstance(server, asyncio.Server)  # noqa: S101
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """End every call and connection, and stop listening."""
        await self.network.shutdown()
        await self.sip.shutdown()
        await self.realtime.shutdown()
        await self.live.shutdown()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
