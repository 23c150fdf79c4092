"""The WebSocket under a VoiceEngine: opening it, sending on it, closing it.

Both protocols (and their sideband variants) open the socket the same way, may
send a first event and wait for the one acknowledging it, send JSON events, and
close the socket and their reader alike. What they send and how they read is
theirs.

No Home Assistant imports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from contextlib import suppress
from typing import Any

import aiohttp
import orjson

from .voice_engine import (
    CONNECT_TIMEOUT,
    MAX_MESSAGE_BYTES,
    EngineError,
    EngineListener,
    http_reason,
)

# Closes the event spliced around a frame of caller audio.
APPEND_END = b'"}'


async def _until(ws: aiohttp.ClientWebSocketResponse, acknowledged: str) -> None:
    """Wait for the event of type `acknowledged`; raises EngineError."""
    while True:
        message = await ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise EngineError(
                "openai_closed", f"{message.type.name} {message.extra or ''}"
            )
        event = orjson.loads(message.data)
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == acknowledged:
            return
        if kind == "error":
            error = event.get("error") or {}
            raise EngineError(
                "openai_refused", f"{error.get('code')}: {error.get('message')}"
            )


class EngineSocket(ABC):
    """One OpenAI session's WebSocket and the task reading it."""

    # The start of the event that carries caller audio, up to the base64.
    _append_event: bytes

    def __init__(self, http: aiohttp.ClientSession, *, url: str, api_key: str) -> None:
        """Nothing is sent until `_open`."""
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._listener: EngineListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    async def _open(
        self,
        listener: EngineListener,
        start: dict[str, Any] | None = None,
        *,
        acknowledged: str = "",
        task_name: str,
    ) -> None:
        """Open the socket, send `start` and wait until it is `acknowledged`, then read.

        Raises EngineError, once the engine is closed. Without `start` (a sideband),
        the session is already set up: reading begins as soon as the socket is open.
        """
        self._listener = listener
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                self._ws = await self._http.ws_connect(
                    self._url,
                    headers=self._headers,
                    max_msg_size=MAX_MESSAGE_BYTES,
                    autoping=True,
                )
                if start is not None:
                    await self._send(start)
                    await _until(self._ws, acknowledged)
        except aiohttp.WSServerHandshakeError as err:
            await self.aclose()
            raise EngineError(http_reason(err.status)) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            await self.aclose()
            raise EngineError("openai_unreachable", type(err).__name__) from err
        except EngineError:
            await self.aclose()
            raise
        self._reader = asyncio.create_task(self._read(), name=task_name)

    @abstractmethod
    async def _read(self) -> None:
        """Handle the session's events until the socket closes."""

    async def _send(self, event: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_frame(orjson.dumps(event), aiohttp.WSMsgType.TEXT)

    async def append_audio(self, payload: str) -> None:
        """Caller audio, as Twilio sent it (base64: the bridge has checked it).

        The hot path, fifty times a second: the event is spliced rather than
        serialised (base64 needs no escaping), the bytes orjson would make.
        """
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_frame(
                self._append_event + payload.encode() + APPEND_END,
                aiohttp.WSMsgType.TEXT,
            )

    async def aclose(self) -> None:
        """Close the socket and stop reading."""
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with suppress(aiohttp.ClientError, OSError):
                await ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
