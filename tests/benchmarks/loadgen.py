"""The realtime benchmark's load: a lean fake Twilio and a lean fake OpenAI, in their own process.

Run by bench_realtime.py as `python -m tests.benchmarks.loadgen`; it prints one
JSON line with its ports, then takes orders on the control API (/bench/...) of
the Twilio port. Running apart from Home Assistant, it keeps the CPU time of the
Home Assistant process to the bridge's own.

Twilio (its own port, like a host of its own):
- REST: the account (for the entry's setup) and Calls.json, answering 201 with a
  CallSid. Each call then posts the initiated, ringing and answered status
  callbacks, fetches the voice URL's TwiML, posts the machine-detection verdict
  (human), opens the <Stream> URL, and finally posts `completed`; every request
  is signed as Twilio signs it (RequestValidator with the account's auth token;
  the upgrade over the ws:// URL with no params). `start` carries the stream's
  <Parameter>s (the token) and the CallSid.
- Media Streams: 20 ms μ-law frames at real-time pace (each stream on its own
  phase), the audio sent back played at real-time pace, marks echoed once the
  audio before them has played (all of them on `clear`), `stop` at hang-up.

OpenAI (another port):
- GET /v1/models, for the entry's setup.
- /v1/realtime (GA): session.update -> session.updated; response.create starts a
  reply: response.created, audio deltas at real-time pace with a transcript
  delta now and then, then output_audio.done, the transcript and response.done.
  Half the replies are talked over: input_audio_buffer.speech_started right after
  a delta (so some of it is still queued at Twilio), and the reply's audio stops
  there, as a server with interrupt_response would do (our engine's own
  response.cancel follows within milliseconds): both bridges carry the same
  audio. response.cancel -> response.done (cancelled); a truncate is
  acknowledged. After a reply the sleeper talks for a while (speech_started,
  speech_stopped, committed, a transcript); then the next reply comes on
  response.create, or by itself when the session asked for create_response.
- /v1/live/sessions (GPT-Live): session.start -> session.started, then one
  continuous output track (deltas at real-time pace, silence included) with
  lines of the coach and the sleeper's answers as transcript fragments;
  instruction appends acknowledged, usage every 15 s, session.close ->
  session.closed.

Frames are matched across the bridge by their bytes, which pass through
untouched: the first four bytes of each payload are a frame id, the next two
the index of the stream or session that sent it. Times are time.monotonic()
(one clock for every process on Linux). Latencies are kept for frames sent
within the step's window only.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
import heapq
import itertools
import random
import secrets
import sys
import time
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from aiohttp import ClientSession, ClientTimeout, TCPConnector, WSMsgType, web
import orjson
from twilio.request_validator import RequestValidator

FRAME_MS = 20
FRAME_BYTES = 160
DELTA_MS = 100
# μ-law silence after the six id bytes.
FILLER = b"\xff" * 4096
monotonic = time.monotonic
# The same load every run.
RNG = random.Random(20)  # noqa: S311 - a load, not a secret
dumps = orjson.dumps
loads = orjson.loads
TEXT = WSMsgType.TEXT


def payload(fid: int, index: int, size: int) -> str:
    """Base64 μ-law: the frame id and the sender's index, then silence."""
    return base64.b64encode(
        fid.to_bytes(4, "big") + index.to_bytes(2, "big") + FILLER[: size - 6]
    ).decode()


def payload_ids(data: str) -> tuple[int, int]:
    """The frame id and the sender's index of a payload."""
    raw = base64.b64decode(data[:8])
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:6], "big")


def payload_ms(data: str) -> int:
    """Milliseconds of base64 μ-law."""
    return (len(data) * 3 // 4) // 8


def summary(values: Any) -> dict[str, float | int | None]:
    """Median, 99th percentile and maximum (ms), and how many."""
    ordered = sorted(values)
    count = len(ordered)
    if not count:
        return {"median": None, "p99": None, "max": None, "count": 0}
    return {
        "median": round(ordered[count // 2], 3),
        "p99": round(ordered[min(count - 1, int(count * 0.99))], 3),
        "max": round(ordered[-1], 3),
        "count": count,
    }


class LoopLag:
    """Lateness of a periodic timer on this process's loop."""

    def __init__(self, period: float = 0.025) -> None:
        self.period = period
        self.samples: list[float] = []
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.period
        self._handle = loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.samples.append((now - self._due) * 1000)
        self._due = max(self._due + self.period, now)
        self._handle = loop.call_at(self._due, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Step:
    """One measured run: N calls of one engine through one bridge (ours or the floor)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.target: str = config["target"]
        self.engine: str = config["engine"]
        self.n: int = config["n"]
        self.delta_ms: int = config.get("delta_ms", DELTA_MS)
        self.barge_in: float = config.get("barge_in", 0.5)
        self.think_first: float = config.get("think_first", 0.5)
        self.think_reply: float = config.get("think_reply", 0.2)
        self.floor_url: str | None = config.get("floor_url")
        self.start = float("inf")
        self.end = float("inf")
        self.up: list[float] = []  # Twilio frame sent -> append at OpenAI
        self.down: list[float] = []  # OpenAI delta sent -> media at Twilio
        self.first_audio: list[float] = []  # first delta of a reply -> Twilio
        self.greeting: list[float] = []  # first delta of a session -> Twilio
        self.greeting_early = 0  # ... made before Twilio's stream had started
        self.barge: list[float] = []  # speech_started sent -> clear at Twilio
        self.barge_sent = 0
        self.completed = 0  # `completed` status callbacks Home Assistant took
        self.stopped = (
            0  # streams Twilio stopped (rather than Home Assistant closing them)
        )
        self.sent_up = 0
        self.sent_down = 0
        self.errors: dict[str, int] = {}
        self.streams: list[TwilioStream] = []
        self.calls: list[TwilioCall] = []
        self.pacing_late: list[float] = []
        self.cpu: tuple[float, float] = (0.0, 0.0)
        self.lag = LoopLag()

    def in_window(self, at: float) -> bool:
        return self.start <= at < self.end

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class Generator:
    """Everything the process runs; one instance."""

    def __init__(self) -> None:
        self.step: Step | None = None
        self.fids = itertools.count(1)
        self.up_sent: dict[int, float] = {}
        self.down_sent: dict[int, float] = {}
        # The first delta of a reply: "greeting" (of a session) or "reply".
        self.firsts: dict[int, str] = {}
        self.sessions: dict[int, FakeSession] = {}
        self.session_ids = itertools.count(1)
        self.stream_ids = itertools.count(1)
        self.streams: dict[int, TwilioStream] = {}
        self.pacer = Pacer()
        self.http: ClientSession | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.auth_token = ""
        self.account_sid = ""

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if (
            not task.cancelled()
            and (err := task.exception()) is not None
            and self.step is not None
        ):
            self.step.error(f"{type(err).__name__}: {err}"[:120])

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))


# The process's one Generator, made by main() on the running loop.
GEN: Generator


class Pacer:
    """Runs every stream's 20 ms tick from one task, each stream on its own phase."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, TwilioStream]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def add(self, stream: TwilioStream) -> None:
        due = monotonic() + RNG.random() * FRAME_MS / 1000
        heapq.heappush(self.heap, (due, stream.index, stream))
        self.wake.set()

    async def run(self) -> None:
        heap = self.heap
        while True:
            if not heap:
                self.wake.clear()
                await self.wake.wait()
                continue
            now = monotonic()
            delay = heap[0][0] - now
            if delay > 0.0002:
                await asyncio.sleep(delay)
                continue
            due, index, stream = heapq.heappop(heap)
            step = GEN.step
            if step is not None and step.in_window(due):
                step.pacing_late.append((now - due) * 1000)
            try:
                following = await stream.tick(due)
            except Exception as err:  # noqa: BLE001 - a broken stream ends, the rest go on
                if step is not None:
                    step.error(f"tick: {type(err).__name__}")
                following = None
            if following is not None:
                heapq.heappush(heap, (following, index, stream))


# --- Twilio ----------------------------------------------------------------------

MEDIA = (
    '{"event":"media","sequenceNumber":"%d","streamSid":"%s","media":'
    '{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)
MARK = '{"event":"mark","sequenceNumber":"%d","streamSid":"%s","mark":{"name":%s}}'


class TwilioStream:
    """One Media Stream, Twilio's side."""

    def __init__(self, step: Step, call_sid: str, parameters: dict[str, str]) -> None:
        self.step = step
        self.index = next(GEN.stream_ids) % 65536
        self.call_sid = call_sid
        self.parameters = parameters
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.ws: Any = None
        self.sequence = 0
        self.chunk = 0
        self.received_ms = 0
        self.played_ms = 0
        self.marks: deque[tuple[str, int]] = deque()
        self.started_at = 0.0
        self.got_media = False
        self.session_index = 0
        self.closed = False
        self.closed_by_ha = False
        self.reader: asyncio.Task[None] | None = None

    async def open(self, url: str, headers: dict[str, str]) -> None:
        assert GEN.http is not None
        self.ws = await GEN.http.ws_connect(
            url, headers=headers, autoping=True, max_msg_size=0
        )
        GEN.streams[self.index] = self
        await self._send_json(
            {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        )
        self.sequence += 1
        await self._send_json(
            {
                "event": "start",
                "sequenceNumber": str(self.sequence),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": GEN.account_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.parameters,
                    "mediaFormat": {
                        "encoding": "audio/x-mulaw",
                        "sampleRate": 8000,
                        "channels": 1,
                    },
                },
            }
        )
        self.started_at = monotonic()
        self.reader = asyncio.create_task(self._read())
        GEN.pacer.add(self)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send_frame(dumps(message), TEXT)

    async def tick(self, due: float) -> float | None:
        """20 ms: play what was sent back (echoing marks reached), send a frame."""
        if self.closed:
            return None
        ws = self.ws
        if self.received_ms > self.played_ms:
            self.played_ms = min(self.received_ms, self.played_ms + FRAME_MS)
        marks = self.marks
        while marks and marks[0][1] <= self.played_ms:
            await self._echo(marks.popleft()[0])
        fid = next(GEN.fids)
        self.sequence += 1
        self.chunk += 1
        message = MEDIA % (
            self.sequence,
            self.stream_sid,
            self.chunk,
            (self.chunk - 1) * FRAME_MS,
            payload(fid, self.index, FRAME_BYTES),
        )
        now = monotonic()
        if self.step.in_window(now):
            self.step.sent_up += 1
            GEN.up_sent[fid] = now
        elif now < self.step.start:
            GEN.up_sent[fid] = now  # warm-up: only to see the stream flowing
        await ws.send_frame(message.encode(), TEXT)
        return due + FRAME_MS / 1000

    async def _echo(self, name: str) -> None:
        self.sequence += 1
        await self.ws.send_frame(
            (MARK % (self.sequence, self.stream_sid, dumps(name).decode())).encode(),
            TEXT,
        )

    async def _read(self) -> None:
        step = self.step
        down_sent = GEN.down_sent
        firsts = GEN.firsts
        async for message in self.ws:
            if message.type is not TEXT:
                break
            now = monotonic()
            event = loads(message.data)
            kind = event.get("event")
            if kind == "media":
                data = event["media"]["payload"]
                self.received_ms += payload_ms(data)
                fid, session_index = payload_ids(data)
                self.session_index = session_index
                self.got_media = True
                sent = down_sent.pop(fid, None)
                if sent is not None and step.in_window(sent):
                    step.down.append((now - sent) * 1000)
                if (first := firsts.pop(fid, None)) is not None and sent is not None:
                    if first == "greeting":
                        if sent < self.started_at:
                            step.greeting_early += 1
                        step.greeting.append((now - max(sent, self.started_at)) * 1000)
                    elif step.in_window(sent):
                        step.first_audio.append((now - sent) * 1000)
            elif kind == "mark":
                self.marks.append((event["mark"]["name"], self.received_ms))
            elif kind == "clear":
                session = GEN.sessions.get(self.session_index)
                if session is not None and session.speech_started_at:
                    if step.in_window(session.speech_started_at):
                        step.barge.append((now - session.speech_started_at) * 1000)
                    session.speech_started_at = 0.0
                self.played_ms = self.received_ms
                while self.marks:
                    await self._echo(self.marks.popleft()[0])
            else:
                step.error(f"twilio got {kind!r}")
        if not self.closed:
            self.closed_by_ha = True
            self.closed = True

    async def stop(self) -> None:
        """Twilio ends the stream: stop, then close."""
        if not self.closed:
            self.closed = True
            self.step.stopped += 1
            self.sequence += 1
            with suppress(Exception):
                await self._send_json(
                    {
                        "event": "stop",
                        "sequenceNumber": str(self.sequence),
                        "streamSid": self.stream_sid,
                        "stop": {
                            "accountSid": GEN.account_sid,
                            "callSid": self.call_sid,
                        },
                    }
                )
        if self.ws is not None:
            with suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with suppress(Exception):
                await self.reader
        GEN.streams.pop(self.index, None)


class TwilioCall:
    """A call Home Assistant placed through Calls.json."""

    def __init__(self, step: Step, form: Any) -> None:
        self.step = step
        self.sid = "CA" + secrets.token_hex(16)
        self.to = form.get("To", "")
        self.from_ = form.get("From", "")
        self.url = form["Url"]
        self.status_url = form.get("StatusCallback")
        self.status_events = set(form.getall("StatusCallbackEvent", []))
        self.amd_url = form.get("AsyncAmdStatusCallback")
        self.sequence = 0
        self.status = "queued"
        self.stream: TwilioStream | None = None
        self.ended = False
        self.answered_at = 0.0

    def params(self) -> dict[str, str]:
        return {
            "AccountSid": GEN.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": self.status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "outbound-api",
            "From": self.from_,
            "To": self.to,
        }

    async def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        assert GEN.http is not None
        async with GEN.http.post(
            url,
            data=params,
            headers={
                "X-Twilio-Signature": GEN.sign(url, params),
                "User-Agent": "TwilioProxy/1.1",
            },
            timeout=ClientTimeout(total=15),
        ) as response:
            return response.status, await response.text()

    async def callback(self, event: str, status: str, **extra: str) -> None:
        self.status = status
        if not self.status_url or event not in self.status_events:
            return
        params = self.params() | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self.sequence),
            "Timestamp": "Thu, 26 Nov 2026 06:30:00 +0000",
            **extra,
        }
        self.sequence += 1
        code, _ = await self.post(self.status_url, params)
        if code >= 300:
            self.step.error(f"status {event} answered {code}")
        elif event == "completed":
            self.step.completed += 1

    async def run(self) -> None:
        await self.callback("initiated", "initiated")
        await self.callback("ringing", "ringing")
        self.answered_at = monotonic()
        await self.callback("answered", "in-progress")
        code, document = await self.post(self.url, self.params())
        if code != 200:
            self.step.error(f"TwiML answered {code}")
            return
        root = ET.fromstring(document)  # noqa: S314 - Home Assistant's own answer
        stream = root.find("./Connect/Stream")
        if stream is None:
            self.step.error("TwiML without <Connect><Stream>")
            return
        url = stream.attrib["url"]
        parameters = {
            p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")
        }
        if self.amd_url:
            GEN.spawn(
                self.post(
                    self.amd_url,
                    {
                        "AccountSid": GEN.account_sid,
                        "CallSid": self.sid,
                        "AnsweredBy": "human",
                        "MachineDetectionDuration": "1200",
                    },
                )
            )
        # Twilio drops a query string; the upgrade is signed over the ws(s) URL, no params.
        parts = urlsplit(url)
        url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.stream = TwilioStream(self.step, self.sid, parameters)
        self.step.streams.append(self.stream)
        await self.stream.open(url, {"X-Twilio-Signature": GEN.sign(url, {})})

    async def hang_up(self) -> None:
        """The sleeper hangs up: the stream stops, then `completed`."""
        if self.ended:
            return
        self.ended = True
        if self.stream is not None:
            await self.stream.stop()
            if self.stream.closed_by_ha:
                self.step.error("stream closed by Home Assistant")
        duration = str(int(monotonic() - self.answered_at)) if self.answered_at else "0"
        await self.callback(
            "completed", "completed", CallDuration=duration, Duration=duration
        )


async def open_floor_stream(step: Step) -> None:
    """A stream straight to the floor bridge (no TwiML, no signature: the floor checks nothing)."""
    stream = TwilioStream(step, "CA" + secrets.token_hex(16), {})
    step.streams.append(stream)
    assert step.floor_url is not None
    await stream.open(f"{step.floor_url}/{step.engine}", {})


def twilio_routes() -> list[web.RouteDef]:
    api = "/2010-04-01/Accounts/{account_sid}"

    async def account(request: web.Request) -> web.Response:
        return web.json_response(
            {"sid": GEN.account_sid, "friendly_name": "Bench", "status": "active"}
        )

    async def create_call(request: web.Request) -> web.Response:
        step = GEN.step
        form = await request.post()
        if step is None or step.target != "ours":
            return web.json_response({"code": 21210, "message": "no step"}, status=400)
        call = TwilioCall(step, form)
        step.calls.append(call)
        GEN.spawn(call.run())
        return web.json_response(
            {"sid": call.sid, "status": "queued", "account_sid": GEN.account_sid},
            status=201,
        )

    async def update_call(request: web.Request) -> web.Response:
        form = await request.post()
        step = GEN.step
        if step is not None:
            step.error(f"REST update {dict(form)}"[:120])
            for call in step.calls:
                if call.sid == request.match_info["call_sid"]:
                    GEN.spawn(call.hang_up())
        return web.json_response({"sid": request.match_info["call_sid"]})

    return [
        web.get(api + ".json", account),
        web.post(api + "/Calls.json", create_call),
        web.post(api + "/Calls/{call_sid}.json", update_call),
    ]


# --- OpenAI ----------------------------------------------------------------------


class FakeSession:
    """One OpenAI WebSocket session."""

    append_type = ""
    delta_type = ""

    def __init__(self, step: Step, ws: web.WebSocketResponse) -> None:
        self.step = step
        self.ws = ws
        self.index = next(GEN.session_ids) % 65536
        self.speech_started_at = 0.0
        self.got_append = False
        self.closed = False
        self.audio: asyncio.Task[None] | None = None
        self.first = True

    async def send(self, event: dict[str, Any]) -> None:
        if not self.ws.closed:
            with suppress(ConnectionError):
                await self.ws.send_frame(dumps(event), TEXT)

    async def send_delta(self, extra: bytes = b"", *, first: bool = False) -> None:
        """One delta of model audio, at real-time pace."""
        fid = next(GEN.fids)
        step = self.step
        data = payload(fid, self.index, step.delta_ms * 8)
        message = b'{"type":"%s",%s"delta":"%s"}' % (
            self.delta_type.encode(),
            extra,
            data.encode(),
        )
        now = monotonic()
        GEN.down_sent[fid] = now
        if step.in_window(now):
            step.sent_down += 1
        if first:
            GEN.firsts[fid] = "greeting" if self.first else "reply"
            self.first = False
        if not self.ws.closed:
            with suppress(ConnectionError):
                await self.ws.send_frame(message, TEXT)

    async def serve(self) -> None:
        GEN.sessions[self.index] = self
        step = self.step
        up_sent = GEN.up_sent
        append_type = self.append_type
        try:
            async for message in self.ws:
                if message.type is not TEXT:
                    break
                now = monotonic()
                event = loads(message.data)
                kind = event.get("type")
                if kind == append_type:
                    fid, _ = payload_ids(event["audio"])
                    self.got_append = True
                    sent = up_sent.pop(fid, None)
                    if sent is not None and step.in_window(sent):
                        step.up.append((now - sent) * 1000)
                    continue
                await self.handle(kind, event)
        finally:
            self.closed = True
            GEN.sessions.pop(self.index, None)
            if self.audio is not None:
                self.audio.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await self.audio

    async def handle(self, kind: str, event: dict[str, Any]) -> None:
        raise NotImplementedError

    async def pace(self, due: float) -> float:
        """Sleep until `due`; the next delta's due time."""
        delay = due - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return due + self.step.delta_ms / 1000


class RealtimeSession(FakeSession):
    """The Realtime API (GA), as much of it as the bridges use."""

    append_type = "input_audio_buffer.append"
    delta_type = "response.output_audio.delta"

    def __init__(self, step: Step, ws: web.WebSocketResponse) -> None:
        super().__init__(step, ws)
        self.create_response = True
        self.interrupt_response = True
        self.response: str | None = None
        self.requested = asyncio.Event()
        self.ids = itertools.count(1)

    async def handle(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "session.update":
            session = event.get("session") or {}
            detection = ((session.get("audio") or {}).get("input") or {}).get(
                "turn_detection"
            )
            if isinstance(detection, dict):
                self.create_response = detection.get("create_response", True)
                self.interrupt_response = detection.get("interrupt_response", True)
            await self.send(
                {"type": "session.updated", "session": {"type": "realtime"}}
            )
            if self.audio is None:
                self.audio = asyncio.create_task(self._talk())
        elif kind == "response.create":
            if self.response is None and not self.requested.is_set():
                self.requested.set()
            else:
                await self._error("conversation_already_has_active_response")
        elif kind == "response.cancel":
            if self.response is not None:
                await self._done("cancelled")
            else:
                await self._error("response_cancel_not_active")
        elif kind == "conversation.item.truncate":
            await self.send(
                {
                    "type": "conversation.item.truncated",
                    "item_id": event.get("item_id"),
                    "content_index": 0,
                    "audio_end_ms": event.get("audio_end_ms"),
                }
            )
        elif kind == "conversation.item.create":
            pass
        else:
            self.step.error(f"realtime got {kind!r}")

    async def _error(self, code: str) -> None:
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": code,
                },
            }
        )

    async def _done(self, status: str) -> None:
        response, self.response = self.response, None
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response,
                    "status": status,
                    "output": [],
                    "usage": {
                        "total_tokens": 100,
                        "input_tokens": 60,
                        "output_tokens": 40,
                    },
                },
            }
        )

    async def _talk(self) -> None:
        """Reply, get talked over (or finish), hear the sleeper out; again."""
        step = self.step
        while True:
            await self.requested.wait()
            self.requested.clear()
            number = next(self.ids)
            self.response = response = f"resp_{self.index}_{number}"
            item = f"item_{self.index}_{number}"
            await self.send(
                {
                    "type": "response.created",
                    "response": {"id": response, "status": "in_progress"},
                }
            )
            await asyncio.sleep(step.think_first if self.first else step.think_reply)
            talk_ms = RNG.randint(20, 40) * 100
            barge_at = (
                RNG.randint(5, talk_ms // 100 - 3) * 100
                if RNG.random() < step.barge_in
                else None
            )
            extra = (
                b'"response_id":"%s","item_id":"%s","output_index":0,"content_index":0,'
                % (
                    response.encode(),
                    item.encode(),
                )
            )
            due = monotonic()
            sent_ms = 0
            interrupted = False
            while self.response == response and sent_ms < talk_ms:
                await self.send_delta(extra, first=sent_ms == 0)
                sent_ms += step.delta_ms
                if sent_ms % 500 == 0:
                    await self.send(
                        {
                            "type": "response.output_audio_transcript.delta",
                            "response_id": response,
                            "item_id": item,
                            "delta": "Up you get! ",
                        }
                    )
                if barge_at is not None and sent_ms >= barge_at:
                    interrupted = True
                    self.speech_started_at = monotonic()
                    step.barge_sent += 1
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": 0,
                            "item_id": f"user_{self.index}_{number}",
                        }
                    )
                    if self.interrupt_response:
                        await self._done("cancelled")
                    break
                due = await self.pace(due)
            if not interrupted and self.response == response:
                await self.send({"type": "response.output_audio.done", "item_id": item})
                await self.send(
                    {
                        "type": "response.output_audio_transcript.done",
                        "item_id": item,
                        "transcript": "Up you get!",
                    }
                )
                await self._done("completed")
                await asyncio.sleep(0.6)
                self.speech_started_at = 0.0
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": 0,
                        "item_id": f"user_{self.index}_{number}",
                    }
                )
            await asyncio.sleep(0.8)
            if self.response is not None:
                await self._done("cancelled")
            user = f"user_{self.index}_{number}"
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": 0,
                    "item_id": user,
                }
            )
            await self.send({"type": "input_audio_buffer.committed", "item_id": user})
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": user,
                    "content_index": 0,
                    "transcript": "Mmm.",
                }
            )
            if self.create_response:
                self.requested.set()


class LiveSession(FakeSession):
    """GPT-Live's primary WebSocket, as much of it as the bridges use."""

    append_type = "session.input_audio.append"
    delta_type = "session.output_audio.delta"

    async def handle(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "session.start":
            await self.send(
                {
                    "type": "session.started",
                    "session": {"id": f"live_{self.index}", "status": "active"},
                }
            )
            if self.audio is None:
                self.audio = asyncio.create_task(self._track())
        elif kind in (
            "session.instructions.append",
            "session.commentary.append",
            "session.thinking.append",
        ):
            await self.send(
                {
                    "type": kind.replace(".append", ".appended"),
                    "client_event_id": event.get("event_id"),
                    "start_ms": 0,
                    "end_ms": 0,
                }
            )
        elif kind == "session.close":
            await self.send(
                {
                    "type": "session.closed",
                    "reason": "close_requested",
                    "session": {"id": f"live_{self.index}"},
                    "usage": {"seconds": 1},
                }
            )
            await self.ws.close()
        else:
            self.step.error(f"live got {kind!r}")

    async def _track(self) -> None:
        """One continuous track: a line of the coach, a pause, the sleeper's answer, a pause."""
        step = self.step
        await asyncio.sleep(step.think_first)
        due = monotonic()
        usage_at = due + 15
        while True:
            talk_ms = RNG.randint(20, 40) * 100
            cycle = (
                (0, talk_ms, "coach"),
                (talk_ms, talk_ms + 500, ""),
                (talk_ms + 500, talk_ms + 2000, "sleeper"),
                (talk_ms + 2000, talk_ms + 2500, ""),
            )
            for begin, end, who in cycle:
                for at in range(begin, end, step.delta_ms):
                    await self.send_delta(first=at == 0)
                    if who and (at - begin) % 500 == 0:
                        await self.send(
                            {
                                "type": "session.output_transcript.delta"
                                if who == "coach"
                                else "session.input_transcript.delta",
                                "delta": "Up you get! " if who == "coach" else "Mmm. ",
                                "start_ms": at,
                                "end_ms": at + 500,
                            }
                        )
                    if due >= usage_at:
                        usage_at += 15
                        await self.send(
                            {"type": "session.usage.updated", "usage": {"seconds": 15}}
                        )
                    due = await self.pace(due)


def openai_routes() -> list[web.RouteDef]:
    async def models(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "bench"}
                    for name in ("gpt-realtime", "gpt-live-1", "gpt-4o-mini")
                ],
            }
        )

    def socket(
        kind: type[FakeSession],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            step = GEN.step
            ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
            await ws.prepare(request)
            if step is None:
                await ws.close()
                return ws
            session = kind(step, ws)
            if isinstance(session, RealtimeSession):
                await session.send(
                    {"type": "session.created", "session": {"type": "realtime"}}
                )
            await session.serve()
            return ws

        return handler

    return [
        web.get("/v1/models", models),
        web.get("/v1/realtime", socket(RealtimeSession)),
        web.get("/v1/live/sessions", socket(LiveSession)),
    ]


# --- control ---------------------------------------------------------------------


def control_routes() -> list[web.RouteDef]:
    async def configure(request: web.Request) -> web.Response:
        body = await request.json()
        GEN.auth_token = body["auth_token"]
        GEN.account_sid = body["account_sid"]
        return web.json_response({})

    async def step(request: web.Request) -> web.Response:
        config = await request.json()
        GEN.up_sent.clear()
        GEN.down_sent.clear()
        GEN.firsts.clear()
        GEN.step = new = Step(config)
        if new.target == "floor":

            async def open_all() -> None:
                # At the pace HA places its calls.
                pace = 1 / float(config.get("calls_per_second", 25))
                for _ in range(new.n):
                    GEN.spawn(open_floor_stream(new))
                    await asyncio.sleep(pace)

            GEN.spawn(open_all())
        return web.json_response({})

    async def status(request: web.Request) -> web.Response:
        step = GEN.step
        if step is None:
            return web.json_response({})
        return web.json_response(
            {
                "calls": len(step.calls),
                "streams": len(step.streams),
                "streams_flowing": sum(
                    1 for s in step.streams if s.got_media and not s.closed
                ),
                "sessions": len(GEN.sessions),
                "sessions_flowing": sum(
                    1 for s in GEN.sessions.values() if s.got_append
                ),
                "open_streams": len(GEN.streams),
                "errors": step.errors,
            }
        )

    async def window(request: web.Request) -> web.Response:
        body = await request.json()
        step = GEN.step
        assert step is not None
        step.start, step.end = body["start"], body["end"]
        loop = asyncio.get_running_loop()

        def begin() -> None:
            step.cpu = (time.process_time(), 0.0)
            step.lag.start()

        def finish() -> None:
            step.cpu = (step.cpu[0], time.process_time())
            step.lag.stop()

        loop.call_at(step.start, begin)
        loop.call_at(step.end, finish)
        return web.json_response({})

    async def hang_up(request: web.Request) -> web.Response:
        step = GEN.step
        assert step is not None
        if step.target == "ours":
            ends = [call.hang_up() for call in step.calls]
        else:
            ends = [stream.stop() for stream in step.streams]
        for start in range(0, len(ends), 20):
            await asyncio.gather(*ends[start : start + 20], return_exceptions=True)
        return web.json_response({})

    async def result(request: web.Request) -> web.Response:
        step = GEN.step
        assert step is not None
        seconds = step.end - step.start
        lost_up = sum(1 for t in GEN.up_sent.values() if step.in_window(t))
        lost_down = sum(1 for t in GEN.down_sent.values() if step.in_window(t))
        return web.json_response(
            {
                "up_ms": summary(step.up),
                "down_ms": summary(step.down),
                "first_audio_ms": summary(step.first_audio),
                "greeting_ms": summary(step.greeting),
                "greeting_before_stream": step.greeting_early,
                "barge_in_ms": summary(step.barge),
                "barge_ins_sent": step.barge_sent,
                "frames_up": step.sent_up,
                "frames_down": step.sent_down,
                "lost_up": lost_up,
                "lost_down": lost_down,
                "loadgen_cpu_cores": round((step.cpu[1] - step.cpu[0]) / seconds, 3),
                "loadgen_loop_lag_ms": summary(step.lag.samples),
                "loadgen_pacing_late_ms": summary(step.pacing_late),
                "errors": step.errors,
                "ended": {
                    "streams_stopped_by_twilio": step.stopped,
                    "completed_callbacks_taken": step.completed,
                },
            }
        )

    async def quit_(request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_later(0.1, STOP.set)
        return web.json_response({})

    return [
        web.post("/bench/configure", configure),
        web.post("/bench/step", step),
        web.get("/bench/status", status),
        web.post("/bench/window", window),
        web.post("/bench/hang_up", hang_up),
        web.get("/bench/result", result),
        web.post("/bench/quit", quit_),
    ]


STOP = asyncio.Event()


async def main() -> None:
    global GEN, STOP  # noqa: PLW0603 - made on the running loop
    STOP = asyncio.Event()
    GEN = Generator()
    GEN.http = ClientSession(connector=TCPConnector(limit=0, force_close=False))
    pacer = asyncio.create_task(GEN.pacer.run())
    twilio = web.Application()
    twilio.add_routes(twilio_routes() + control_routes())
    openai = web.Application()
    openai.add_routes(openai_routes())
    runners = []
    ports = []
    for app in (twilio, openai):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        runners.append(runner)
        ports.append(runner.addresses[0][1])
    sys.stdout.write(
        orjson.dumps({"twilio_port": ports[0], "openai_port": ports[1]}).decode() + "\n"
    )
    sys.stdout.flush()
    await STOP.wait()
    pacer.cancel()
    for task in list(GEN.tasks):
        task.cancel()
    await GEN.http.close()
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
