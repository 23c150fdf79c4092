"""OpenAI GPT-Live over WebSocket (`GET /v1/live/sessions`), the primary socket.

Built from the protocol notes in /work/shared/reference (gpt_live.md, tac_gpt_live.md),
not from any one client. What the notes leave open is marked "unverified" below,
with the behaviour chosen as the most plausible.

The protocol, as this server plays it:

- Bearer auth on the upgrade (401 otherwise); no query string (400). The first client
  message must be `session.start`; its `session` is checked strictly (unknown fields
  give `error` unknown_parameter with the field's path in `param`, and nothing
  starts). `session.started` follows after `LiveService.start_delay`.
- The session timeline advances only with input audio: 20 ms per 160 μ-law bytes
  (per 20 ms of the session's format). Appends (`session.instructions.append`,
  `.thinking.append`, `.commentary.append`) are placed on it one after another;
  their ack and their effect wait until input audio has carried the timeline past
  the placement's end. Without input audio they stay pending.
- The model is silent after start. It speaks when (a) an instructions or commentary
  append takes effect: see `coach_brain.live_line`; a thinking append only adds
  context; or (b) the caller ends an utterance (60 ms of speech starts one, 600 ms
  of silence ends it): see `coach_brain.live_reply`. If the caller is talking when
  an append takes effect, the model waits for the utterance to end and then speaks
  the append's line. An instructions append interrupts a line being spoken; a
  commentary line, or a reply, waits for it.
- Output is one continuous track paced in simulated real time: a
  `session.output_audio.delta` of 100 ms every 100 ms from `session.started` on,
  speech while a line plays and silence otherwise, with
  `session.output_transcript.delta` fragments (`start_ms`/`end_ms` on the output
  track). Caller speech gives `session.input_transcript.delta` fragments as it is
  heard, the last words once the speech pauses 200 ms (no completed event).
  Fragments of either side are at most 400 ms of audio apart; a fragment's text
  starts with a space unless it opens a line or utterance, so joining a line's
  fragments gives its text. Only μ-law can be transcribed: the SpeechRegistry
  recognises the exact bytes the simulated phone sent.
- Barge-in is the server's: 60 ms of caller speech while a line plays ends that
  line at once (its rest is never sent, the track goes on as silence). A line
  answering an append of which nothing went out yet waits for the caller's turn
  to end instead, as does one still being synthesised.
- `session.usage.updated` every 15 simulated seconds (cumulative `usage.seconds`);
  `session.close` gives `session.closed` (reason close_requested) and the server
  closes the socket. `error` events never close the socket.

Knobs on `LiveService` (`sim.live`), for scenarios:

- `drop_after: float | None`: the next session to start is cut this many simulated
  seconds after `session.started`: the TCP connection is aborted (the client sees
  close code 1006), no `session.closed`. Used once, then reset to None.
- `refuse_next: str | None`: the next `session.start` that passes validation is
  answered with an `error` of this code (e.g. "model_not_found",
  "credit_balance_exhausted") and the socket is closed (1008). Used once.
- `start_delay: float`: simulated seconds between `session.start` and
  `session.started` (default 0.5; a real start took about 1.1 s).
- `max_session_seconds: float`: after this many simulated seconds the server sends
  `session.closed` with reason "expired" and closes (default 3600; unverified).
- `sessions`: the open `LiveSession`s.

Recorder events (`sim.recorder.events_named(...)`):

- `live_connected` {}: a socket was accepted.
- `live_session_started` {session_id, session}: the full resolved session config.
- `live_refused` {code}: `refuse_next` was used.
- `live_append_placed` {kind ("instructions" | "thinking" | "commentary"), content,
  delegation_id, start_ms, end_ms}: an append reached its place on the timeline.
- `live_heard` {text, start_ms, end_ms}: a caller utterance ended ("" if the audio
  was not recognised).
- `live_line` {text, trigger ("instructions" | "commentary" | "caller")}: the first
  audio of a line the model says went out.
- `live_barge_in` {text, spoken_ms, at_ms}: caller speech cut the line `text` after
  `spoken_ms` of it had been sent; `at_ms` is on the input timeline.
- `live_line_replaced` {text, spoken_ms}: an instructions append (or a fixture)
  interrupted the line being spoken.
- `live_input_format_mismatch` {format}: the session's audio format is not μ-law,
  which the simulated phone sends (noted once per session).
- `live_error` {code, param, message}: every `error` event sent.
- `live_dropped` {after}: `drop_after` cut the session.
- `live_closed` {reason}: the socket closed. reason: "close_requested", "expired",
  "dropped", "refused", "client_disconnected" or "shutdown".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import deque
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
import json
import math
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
import numpy as np
import numpy.typing as npt

from . import audio, coach_brain
from .openai_api import (
    LIVE_MODELS,
    MODELS,
    EventError,
    Schema,
    authenticate,
    first_unknown_field,
    invalid_value,
    missing_parameter,
    openai_error,
    unknown_parameter,
)

if TYPE_CHECKING:
    from .server import Simulator

CLIENT_EVENTS = (
    "session.start",
    "session.update",
    "session.input_audio.append",
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.output_audio.fixture.play",
    "session.instructions.append",
    "session.thinking.append",
    "session.commentary.append",
    "response.item.create",
    "response.create",
    "decision.create",
    "decision.item.create",
    "decision.item.delete",
    "session.close",
)
# Fields each client event may carry besides `type` and `event_id`.
EVENT_FIELDS: dict[str, set[str]] = {
    "session.start": {"session"},
    "session.update": {"session"},
    "session.input_audio.append": {"audio"},
    "session.output_audio.fixture.play": {"audio"},
    "session.instructions.append": {"content", "delegation_id"},
    "session.thinking.append": {"content", "delegation_id"},
    "session.commentary.append": {"content", "delegation_id"},
    "response.item.create": {"item"},
    "decision.item.create": {"item"},
    "decision.item.delete": {"item_id"},
}
APPEND_KINDS = {
    "session.instructions.append": "instructions",
    "session.thinking.append": "thinking",
    "session.commentary.append": "commentary",
}
BUILT_IN_VOICES = frozenset({
    "alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral",
    "delta", "echo", "gleam", "marin", "meridian", "quartz", "ripple", "sage",
    "shida", "shimmer", "stone", "tempo", "verse", "vesper", "willow",
})  # fmt: skip
RESPONSES_SCHEMA: Schema = {
    "model": None,
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": None,
    "reasoning": {"effort": None, "summary": None},
    "service_tier": None,
    "text": {"verbosity": None},
    "tool_choice": None,
    "tools": None,
}
SESSION_SCHEMA: Schema = {
    "model": None,
    "instructions": None,
    "audio": {
        "format": {"type": None, "rate": None},
        "output": {"voice": {"id": None}},
    },
    "delegation": {
        "type": None,
        "acknowledgement_delay_ms": None,
        "responses": RESPONSES_SCHEMA,
        "decisions": None,
    },
    "input": [{"type": None, "role": None, "content": [{"type": None, "text": None}]}],
    "store": None,
    # WebRTC data-channel permissions and Decisions triggers: known fields the
    # simulator accepts and ignores.
    "client": None,
    "safety_identifier": None,
    "triggers": None,
}
# The fields each delegation type takes.
DELEGATION_FIELDS = {
    "client": {"type", "acknowledgement_delay_ms"},
    "responses": {"type", "acknowledgement_delay_ms", "responses"},
    "decisions": {"type", "acknowledgement_delay_ms", "decisions"},
}
# Input message roles and the text part types each may use.
INPUT_PARTS = {
    "developer": {"input_text"},
    "user": {"input_text"},
    "assistant": {"output_text", "text"},
}
# Bytes per millisecond of each documented format, keyed by (type, rate).
FORMATS = {
    ("audio/pcmu", 8000): 8,
    ("audio/pcma", 8000): 8,
    ("audio/pcm", 16000): 32,
    ("audio/pcm", 24000): 48,
}
DEFAULT_FORMAT = {"type": "audio/pcm", "rate": 24000}
MAX_INSTRUCTIONS_CHARS = 16384 * 4  # 16,384 tokens at about 4 characters a token
MAX_APPEND_CHARS = 2000  # 500 tokens
MAX_INPUT_MESSAGES = 128
MAX_FIXTURE_BYTES = 30 * 24000 * 2  # 30 s of PCM16 at 24 kHz

DELTA_MS = 100  # output audio per delta; a third party measured ~100 ms
USAGE_EVERY_S = 15.0
SPEECH_START_FRAMES = 3  # 60 ms of speech: an utterance (and a barge-in) starts
END_OF_TURN_MS = 600  # silence that ends the caller's utterance
PRE_ROLL_FRAMES = 15  # audio kept from before an utterance starts, for recognition
WORD_MS = 350  # about how long a spoken word lasts (espeak-ng speaks 165 words/min)
# Transcript deltas carry the words heard since the last one, at most this far apart
# in audio. The notes say real fragments land on ~200 ms boundaries, and clients
# (Pipecat) end an utterance after a 0.8 s gap, so fragments must not lag further.
FRAGMENT_MS = 400
# The caller's last words are sent once their speech pauses this long, well before
# the turn ends: transcription does not wait for the model's turn decision.
FLUSH_SILENCE_MS = 200
# How long placing an append takes on the timeline. Unverified: the notes only say
# the ack comes when the timeline reaches "the estimated end of the added context".
PLACE_BASE_MS = 40
PLACE_MS_PER_TOKEN = 2
CLOSE_CODE_REFUSED = 1008


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _placement_ms(content: str) -> int:
    """Timeline span of an append, rounded up to whole 20 ms frames."""
    tokens = math.ceil(len(content) / 4)
    span = PLACE_BASE_MS + PLACE_MS_PER_TOKEN * tokens
    return math.ceil(span / audio.FRAME_MS) * audio.FRAME_MS


def _check_audio(value: Any) -> dict[str, Any]:
    """`session.audio`, resolved; raises EventError."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid_value("session.audio", "Invalid type for 'session.audio'.")
    fmt = value.get("format", DEFAULT_FORMAT)
    if not isinstance(fmt, dict) or (fmt.get("type"), fmt.get("rate")) not in FORMATS:
        raise invalid_value(
            "session.audio.format",
            "Invalid 'session.audio.format': expected {type: 'audio/pcm', rate: "
            "16000 | 24000}, {type: 'audio/pcmu', rate: 8000} or "
            "{type: 'audio/pcma', rate: 8000}.",
        )
    output = value.get("output") or {}
    if not isinstance(output, dict):
        raise invalid_value(
            "session.audio.output", "Invalid type for 'session.audio.output'."
        )
    voice = output.get("voice", "marin")
    custom = isinstance(voice, dict) and isinstance(voice.get("id"), str)
    if not custom and voice not in BUILT_IN_VOICES:
        raise invalid_value(
            "session.audio.output.voice",
            f"Invalid value: '{voice}'. Supported values are: "
            + ", ".join(f"'{name}'" for name in sorted(BUILT_IN_VOICES))
            + ", or a custom voice {id}.",
        )
    return {"format": dict(fmt), "output": {"voice": voice}}


def _check_delegation(value: Any) -> dict[str, Any]:
    """`session.delegation`, resolved (missing or null: the client); raises EventError."""
    if value is None:
        return {"type": "client"}
    if not isinstance(value, dict):
        raise invalid_value(
            "session.delegation", "Invalid type for 'session.delegation'."
        )
    kind = value.get("type")
    if kind not in DELEGATION_FIELDS:
        raise invalid_value(
            "session.delegation.type",
            f"Invalid value: '{kind}'. Supported values are: 'client', "
            "'responses' and 'decisions'.",
        )
    for key in value:
        if key not in DELEGATION_FIELDS[kind]:
            raise unknown_parameter(f"session.delegation.{key}")
    if kind != "client":
        settings = value.get(kind)
        if not isinstance(settings, dict) or not isinstance(settings.get("model"), str):
            raise missing_parameter(f"session.delegation.{kind}.model")
    return dict(value)


def _check_input(value: Any) -> list[dict[str, Any]]:
    """`session.input`, the startup history; raises EventError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_value("session.input", "Invalid type for 'session.input'.")
    if len(value) > MAX_INPUT_MESSAGES:
        raise invalid_value(
            "session.input",
            f"'session.input' holds at most {MAX_INPUT_MESSAGES} messages.",
            "array_above_max_length",
        )
    for index, item in enumerate(value):
        where = f"session.input[{index}]"
        if not isinstance(item, dict) or item.get("type") != "message":
            raise invalid_value(f"{where}.type", "Only 'message' items are supported.")
        role = item.get("role")
        if role not in INPUT_PARTS:
            raise invalid_value(
                f"{where}.role",
                f"Invalid value: '{role}'. Supported values are: 'developer', "
                "'user' and 'assistant'.",
            )
        content = item.get("content")
        if not isinstance(content, list) or len(content) != 1:
            raise invalid_value(f"{where}.content", "Each message holds one text part.")
        part = content[0]
        if not isinstance(part, dict) or part.get("type") not in INPUT_PARTS[role]:
            raise invalid_value(
                f"{where}.content[0].type", f"Invalid content type for role '{role}'."
            )
        if not isinstance(part.get("text"), str):
            raise invalid_value(
                f"{where}.content[0].text", "Expected a string.", "invalid_type"
            )
    return [dict(item) for item in value]


def resolve_session(value: Any) -> dict[str, Any]:
    """The resolved config of a `session.start`'s `session`; raises EventError."""
    if value is None:
        raise missing_parameter("session")
    if not isinstance(value, dict):
        raise invalid_value("session", "Invalid type for 'session'.", "invalid_type")
    if unknown := first_unknown_field(value, SESSION_SCHEMA, "session"):
        raise unknown_parameter(unknown)
    model = value.get("model")
    if model is None:
        raise missing_parameter("session.model")
    if model not in MODELS:
        raise EventError(
            "model_not_found",
            f"The model `{model}` does not exist or you do not have access to it.",
            "session.model",
        )
    if model not in LIVE_MODELS:
        raise EventError(
            "invalid_model",
            f"The model `{model}` is not a GPT-Live model. Supported values are: "
            + ", ".join(f"'{name}'" for name in LIVE_MODELS)
            + ".",
            "session.model",
        )
    instructions = value.get("instructions", "")
    if not isinstance(instructions, str):
        raise invalid_value(
            "session.instructions", "Expected a string.", "invalid_type"
        )
    if len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise invalid_value(
            "session.instructions",
            "'session.instructions' is longer than 16384 tokens.",
            "string_above_max_length",
        )
    store = value.get("store", False)
    if not isinstance(store, bool):
        raise invalid_value("session.store", "Expected a boolean.", "invalid_type")
    return {
        "model": model,
        "instructions": instructions,
        "audio": _check_audio(value.get("audio")),
        "delegation": _check_delegation(value.get("delegation")),
        "input": _check_input(value.get("input")),
        "store": store,
    }


@dataclass
class Append:
    """An append waiting for the timeline to reach its end."""

    kind: str  # instructions, thinking or commentary
    content: str
    delegation_id: str | None
    client_event_id: str | None
    start_ms: int
    end_ms: int


@dataclass
class Line:
    """Something the model says (or a fixture it plays) on the output track."""

    text: str
    trigger: str
    audio: bytes  # in the session's format
    bytes_per_ms: int
    sent: int = 0  # bytes of `audio` sent
    words_sent: int = 0
    fragment_start_ms: int | None = None  # where the words not yet sent began
    fixture: bool = False
    source: Append | None = None  # the append it answers, if any

    @property
    def words(self) -> list[str]:
        """The line's words, for transcript fragments."""
        return self.text.split()

    @property
    def spoken_ms(self) -> int:
        """How much of the line has gone out."""
        return self.sent // self.bytes_per_ms

    @property
    def done(self) -> bool:
        """Whether all of it has gone out."""
        return self.sent >= len(self.audio)


@dataclass
class Utterance:
    """What the caller is saying, while they say it."""

    start_ms: int
    audio: bytearray
    words: list[str] | None = None
    words_sent: int = 0
    last_fragment_ms: int = 0  # timeline ms of the last fragment sent


@dataclass
class LiveSession:
    """One primary WebSocket."""

    sim: Simulator
    service: LiveService
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    config: dict[str, Any] | None = None
    session_id: str = field(default_factory=lambda: _id("live"))
    expires_at: int = 0
    started_at: float = 0.0
    close_reason: str = "client_disconnected"
    # the timeline, advanced by input audio only
    timeline_ms: int = 0
    pending_input: bytearray = field(default_factory=bytearray)
    appends: list[Append] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)  # contents of placed appends
    deferred: Append | None = None  # took effect while the caller was talking
    format_mismatch_noted: bool = False
    muted: bool = False
    # the caller
    speech_run: int = 0
    silence_ms: int = 0
    pre_roll: deque[bytes] = field(
        default_factory=lambda: deque(maxlen=PRE_ROLL_FRAMES)
    )
    utterance: Utterance | None = None
    conversation: list[tuple[str, str]] = field(default_factory=list)
    # the output track
    out_ms: int = 0
    line: Line | None = None
    queue: deque[Line] = field(default_factory=deque)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # lines being synthesised, with the append each answers (None: the caller)
    preparing: dict[asyncio.Task[None], Append | None] = field(default_factory=dict)
    closing: bool = False

    # --- sending ----------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send a server event; a socket that is going away takes nothing."""
        event = {"event_id": _id("event"), **event}
        if not self.ws.closed:
            with suppress(ConnectionError):
                await self.ws.send_json(event)

    async def error(self, err: EventError, client_event_id: str | None) -> None:
        """An `error` event; the socket stays open."""
        self.sim.recorder.event(
            "live_error", code=err.code, param=err.param, message=err.message
        )
        body: dict[str, Any] = {
            "type": "invalid_request_error",
            "code": err.code,
            "message": err.message,
        }
        if err.param is not None:
            body["param"] = err.param
        event: dict[str, Any] = {"type": "error", "error": body}
        if client_event_id is not None:
            body["client_event_id"] = client_event_id
            event["client_event_id"] = client_event_id
        await self.send(event)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a coroutine owned by this session (cancelled when it closes)."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- client events ----------------------------------------------------------------

    async def handle(self, raw: str) -> None:
        """One client event; refusals become `error` events."""
        try:
            event = json.loads(raw)
        except ValueError:
            await self.error(EventError("invalid_json", "Invalid JSON."), None)
            return
        if not isinstance(event, dict):
            await self.error(
                EventError("invalid_json", "Expected a JSON object."), None
            )
            return
        raw_id = event.get("event_id")
        event_id = raw_id if isinstance(raw_id, str) else None
        try:
            await self._dispatch(event, event_id)
        except EventError as err:
            await self.error(err, event_id)

    async def _dispatch(self, event: dict[str, Any], event_id: str | None) -> None:
        kind = event.get("type")
        if kind not in CLIENT_EVENTS:
            raise invalid_value(
                "type",
                f"Invalid value: '{kind}'. Supported values are: "
                + ", ".join(f"'{name}'" for name in CLIENT_EVENTS)
                + ".",
            )
        assert isinstance(kind, str)  # noqa: S101 - CLIENT_EVENTS holds strings
        if self.config is None and kind != "session.start":
            raise EventError(
                "session_not_started",
                f"'{kind}' was sent before 'session.start'. The first event must be "
                "'session.start'.",
            )
        allowed = EVENT_FIELDS.get(kind, set()) | {"type", "event_id"}
        for key in event:
            if key not in allowed:
                raise unknown_parameter(key)
        match kind:
            case "session.start":
                await self._start(event, event_id)
            case "session.update":
                await self._update(event, event_id)
            case "session.input_audio.append":
                await self._input_audio(event)
            case "session.input_audio.mute" | "session.input_audio.unmute":
                self.muted = kind.endswith(".mute")
                ack: dict[str, Any] = {"type": f"{kind}d"}
                if event_id is not None:
                    ack["client_event_id"] = event_id
                await self.send(ack)
            case "session.output_audio.fixture.play":
                await self._fixture(event)
            case _ if kind in APPEND_KINDS:
                self._append(APPEND_KINDS[kind], event, event_id)
            case "response.item.create" | "response.create":
                if self._delegation_type != "responses":
                    raise EventError(None, f"{kind} requires Responses delegation.")
                # Unverified: the simulated model never delegates, so nothing waits
                # for these; they are accepted without an answer, as documented.
            case "decision.create" | "decision.item.create" | "decision.item.delete":
                if self._delegation_type != "decisions":
                    raise EventError(None, f"{kind} requires Decisions delegation.")
            case "session.close":
                await self._close_requested()

    @property
    def _delegation_type(self) -> str:
        assert self.config is not None  # noqa: S101
        kind: str = self.config["delegation"]["type"]
        return kind

    @property
    def _format(self) -> dict[str, Any]:
        assert self.config is not None  # noqa: S101
        fmt: dict[str, Any] = self.config["audio"]["format"]
        return fmt

    @property
    def _bytes_per_ms(self) -> int:
        return FORMATS[self._format["type"], self._format["rate"]]

    def snapshot(self, status: str = "active") -> dict[str, Any]:
        """The session resource: id, expiry, status and the resolved config."""
        assert self.config is not None  # noqa: S101
        return {
            "id": self.session_id,
            "expires_at": self.expires_at,
            "status": status,
            **self.config,
        }

    async def _start(self, event: dict[str, Any], event_id: str | None) -> None:
        if self.config is not None:
            raise EventError(
                "session_already_started",
                "The session has already started; 'session.start' is sent once.",
            )
        config = resolve_session(event.get("session"))
        if (code := self.service.refuse_next) is not None:
            self.service.refuse_next = None
            await self._refuse(code, config["model"], event_id)
            return
        # Unverified: the server is assumed to read nothing more until it has
        # started, so input sent early waits in the socket, as TAC relies on.
        await self.sim.clock.sleep(self.service.start_delay)
        await self.begin(config, event_id)

    async def begin(self, config: dict[str, Any], event_id: str | None) -> None:
        """Start the session with a resolved config (a `session.start`, or a SIP accept)."""
        self.config = config
        # The startup history is the conversation so far; developer text counts
        # as instructions (see _instructions).
        self.conversation = [
            (item["role"], item["content"][0]["text"])
            for item in config["input"]
            if item["role"] != "developer"
        ]
        self.started_at = self.sim.clock.now()
        self.expires_at = int(time.time() + self.service.max_session_seconds)
        self.sim.recorder.event(
            "live_session_started", session_id=self.session_id, session=self.snapshot()
        )
        started: dict[str, Any] = {
            "type": "session.started",
            "session": self.snapshot(),
        }
        if event_id is not None:
            started["client_event_id"] = event_id
        await self.send(started)
        drop_after, self.service.drop_after = self.service.drop_after, None
        self.spawn(self._clock(drop_after), f"live clock {self.session_id}")

    async def _refuse(self, code: str, model: str, event_id: str | None) -> None:
        """An admission error after a valid start; unverified that it closes."""
        self.sim.recorder.event("live_refused", code=code)
        message = REFUSALS.get(code, "The session could not be started.").format(
            model=model
        )
        await self.error(EventError(code, message), event_id)
        self.close_reason = "refused"
        self.closing = True
        await self.ws.close(code=CLOSE_CODE_REFUSED, message=code.encode())

    async def _update(self, event: dict[str, Any], event_id: str | None) -> None:
        """Only the delegation (same type) and triggers may change."""
        update = event.get("session")
        if not isinstance(update, dict):
            raise missing_parameter("session")
        assert self.config is not None  # noqa: S101
        for key in update:
            if key in SESSION_SCHEMA and key not in ("delegation", "triggers"):
                raise EventError(
                    "immutable_field_update",
                    f"'session.{key}' cannot be changed after 'session.start'.",
                    f"session.{key}",
                )
        if unknown := first_unknown_field(update, SESSION_SCHEMA, "session"):
            raise unknown_parameter(unknown)
        if "delegation" in update:
            delegation = _check_delegation(update["delegation"])
            if delegation["type"] != self._delegation_type:
                raise EventError(
                    "immutable_field_update",
                    "The delegation type cannot change after 'session.start'.",
                    "session.delegation.type",
                )
            self.config["delegation"] = delegation
        updated: dict[str, Any] = {
            "type": "session.updated",
            "session": self.snapshot(),
        }
        if event_id is not None:
            updated["client_event_id"] = event_id
        await self.send(updated)

    async def _close_requested(self) -> None:
        self.close_reason = "close_requested"
        await self.finish("close_requested")

    async def finish(self, reason: str) -> None:
        """`session.closed`, then the server closes the socket.

        Appends still pending get an error first, as the notes say; the code is
        unverified.
        """
        if self.closing:
            return
        self.closing = True
        for pending in self.appends:
            await self.error(
                EventError(
                    "session_closed",
                    "The session closed before this append was placed.",
                ),
                pending.client_event_id,
            )
        self.appends.clear()
        await self.send(
            {
                "type": "session.closed",
                "reason": reason,
                "session": self.snapshot("closed"),
                "usage": {"seconds": self.usage_seconds()},
            }
        )
        await self.ws.close()

    def usage_seconds(self) -> float:
        """Session seconds so far: silence counts, as OpenAI bills it."""
        return round(self.sim.clock.now() - self.started_at, 3)

    # --- appends and the timeline --------------------------------------------------

    def _append(self, kind: str, event: dict[str, Any], event_id: str | None) -> None:
        if "content" not in event:
            raise missing_parameter("content")
        content = event["content"]
        if not isinstance(content, str):
            raise invalid_value("content", "Expected a string.", "invalid_type")
        if len(content) > MAX_APPEND_CHARS:
            raise invalid_value(
                "content",
                "'content' is longer than 500 tokens.",
                "string_above_max_length",
            )
        if "delegation_id" not in event:
            raise missing_parameter("delegation_id")
        delegation_id = event["delegation_id"]
        if delegation_id is not None:
            # The simulated model never delegates, so no client delegation exists
            # that an id could name; under Responses delegation ids are refused.
            raise invalid_value(
                "delegation_id",
                f"Unknown client delegation '{delegation_id}'.",
            )
        if kind == "instructions" and self._fixture_playing():
            raise EventError(
                "fixture_playing",
                "Instructions cannot be appended while a fixture is playing.",
            )
        start = max([self.timeline_ms, *(pending.end_ms for pending in self.appends)])
        self.appends.append(
            Append(
                kind,
                content,
                delegation_id,
                event_id,
                start,
                start + _placement_ms(content),
            )
        )

    async def _place_due(self) -> None:
        """Ack and apply every append the timeline has passed."""
        while self.appends and self.appends[0].end_ms <= self.timeline_ms:
            pending = self.appends.pop(0)
            self.placed.append(pending.content)
            self.sim.recorder.event(
                "live_append_placed",
                kind=pending.kind,
                content=pending.content,
                delegation_id=pending.delegation_id,
                start_ms=pending.start_ms,
                end_ms=pending.end_ms,
            )
            ack: dict[str, Any] = {
                "type": f"session.{pending.kind}.appended",
                "start_ms": pending.start_ms,
                "end_ms": pending.end_ms,
            }
            if pending.client_event_id is not None:
                ack["client_event_id"] = pending.client_event_id
            await self.send(ack)
            if pending.kind != "thinking":
                if self.utterance is not None:
                    self.deferred = pending
                else:
                    self._say_for(pending)

    def _say_for(self, pending: Append) -> None:
        text = coach_brain.live_line(
            pending.content,
            self._instructions(),
            self.placed,
            self.conversation,
            commentary=pending.kind == "commentary",
        )
        self._prepare(text, pending.kind, pending)

    def _prepare(self, text: str, trigger: str, source: Append | None) -> None:
        """Start synthesising a line; it goes on the track when ready."""
        task = self.spawn(self._say(text, trigger, source), f"live say {trigger}")
        self.preparing[task] = source
        task.add_done_callback(lambda done: self.preparing.pop(done, None))

    def _instructions(self) -> str:
        """The session instructions plus the developer messages of its input."""
        assert self.config is not None  # noqa: S101
        developer = [
            item["content"][0]["text"]
            for item in self.config["input"]
            if item["role"] == "developer"
        ]
        return "\n".join([self.config["instructions"], *developer])

    # --- input audio ------------------------------------------------------------------

    async def _input_audio(self, event: dict[str, Any]) -> None:
        if "audio" not in event:
            raise missing_parameter("audio")
        try:
            chunk = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, TypeError, ValueError) as err:
            raise invalid_value(
                "audio", "Invalid 'audio'. Expected base64-encoded audio."
            ) from err
        fmt = self._format
        if fmt["type"] == "audio/pcm" and len(chunk) % 2:
            raise invalid_value("audio", "PCM audio must have an even number of bytes.")
        if fmt["type"] != "audio/pcmu" and not self.format_mismatch_noted:
            # The simulated phone only sends μ-law; the model would hear noise.
            self.format_mismatch_noted = True
            self.sim.recorder.event("live_input_format_mismatch", format=fmt)
        self.pending_input += chunk
        frame_bytes = self._bytes_per_ms * audio.FRAME_MS
        while len(self.pending_input) >= frame_bytes:
            frame = bytes(self.pending_input[:frame_bytes])
            del self.pending_input[:frame_bytes]
            self.timeline_ms += audio.FRAME_MS
            await self._hear(frame)
            await self._place_due()

    def _is_speech(self, frame: bytes) -> bool:
        if self.muted:
            return False
        kind = self._format["type"]
        if kind == "audio/pcmu":
            return audio.is_speech(frame)
        samples: npt.NDArray[Any] = (
            audio.alaw_decode(frame)
            if kind == "audio/pcma"
            else np.frombuffer(frame, dtype="<i2")
        )
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
        return rms >= audio.SPEECH_RMS

    async def _hear(self, frame: bytes) -> None:
        """One 20 ms frame of the caller, through a simple energy detector."""
        speech = self._is_speech(frame)
        utterance = self.utterance
        if utterance is None:
            self.pre_roll.append(frame)
            self.speech_run = self.speech_run + 1 if speech else 0
            if self.speech_run >= SPEECH_START_FRAMES:
                start = self.timeline_ms - SPEECH_START_FRAMES * audio.FRAME_MS
                self.utterance = Utterance(
                    start, bytearray(b"".join(self.pre_roll)), last_fragment_ms=start
                )
                self.silence_ms = 0
                self._barge_in()
                await self._transcribe_so_far()
            return
        utterance.audio += frame
        if speech:
            self.silence_ms = 0
        else:
            self.silence_ms += audio.FRAME_MS
        await self._transcribe_so_far()
        if self.silence_ms >= END_OF_TURN_MS:
            await self._end_utterance()

    async def _transcribe_so_far(self, *, final: bool = False) -> None:
        """Send the caller's words heard since the last fragment.

        Words are spread over the speech at WORD_MS each; once the speech pauses,
        the rest follows at once.
        """
        utterance = self.utterance
        if utterance is None or self._format["type"] != "audio/pcmu":
            return
        if utterance.words is None:
            text = self.sim.speech.transcribe(bytes(utterance.audio))
            if text is None:
                return
            utterance.words = text.split()
        words = utterance.words
        speech_end = self.timeline_ms - self.silence_ms
        paused = final or self.silence_ms >= FLUSH_SILENCE_MS
        heard = (speech_end - utterance.start_ms) // WORD_MS
        due = len(words) if paused else min(len(words), heard)
        if due <= utterance.words_sent or not (
            paused or self.timeline_ms - utterance.last_fragment_ms >= FRAGMENT_MS
        ):
            return
        first, utterance.words_sent = utterance.words_sent, due
        utterance.last_fragment_ms = self.timeline_ms
        text = " ".join(words[first:due])
        await self.send(
            {
                "type": "session.input_transcript.delta",
                "delta": text if first == 0 else f" {text}",
                "start_ms": min(utterance.start_ms + first * WORD_MS, speech_end),
                "end_ms": speech_end
                if due == len(words)
                else min(utterance.start_ms + due * WORD_MS, speech_end),
            }
        )

    async def _end_utterance(self) -> None:
        await self._transcribe_so_far(final=True)
        utterance = self.utterance
        assert utterance is not None  # noqa: S101
        text = " ".join(utterance.words or [])
        self.sim.recorder.event(
            "live_heard",
            text=text,
            start_ms=utterance.start_ms,
            end_ms=self.timeline_ms - self.silence_ms,
        )
        self.conversation.append(("user", text))
        self.utterance = None
        self.speech_run = 0
        self.pre_roll.clear()
        if (deferred := self.deferred) is not None:
            self.deferred = None
            self._say_for(deferred)
            return
        reply = coach_brain.live_reply(
            self._instructions(), self.placed, self.conversation
        )
        self._prepare(reply, "caller", None)

    def _drop_prepared(self) -> None:
        """Forget the lines being synthesised; an append's waits for the caller."""
        for task, source in list(self.preparing.items()):
            task.cancel()
            if source is not None:
                self.deferred = source
        self.preparing.clear()

    def _barge_in(self) -> None:
        """The caller talks over the model: it stops at once, and drops what it meant to say.

        An append's line of which nothing went out yet waits for the caller's turn
        to end instead, like one still being synthesised.
        """
        self._drop_prepared()
        self.queue = deque(line for line in self.queue if line.fixture)
        line = self.line
        if line is None or line.fixture:
            return
        if line.sent == 0 and line.source is not None:
            self.deferred = line.source
            self.line = None
            return
        self.sim.recorder.event(
            "live_barge_in",
            text=line.text,
            spoken_ms=line.spoken_ms,
            at_ms=self.timeline_ms,
        )
        self.line = None

    # --- the output track -------------------------------------------------------------

    async def _say(self, text: str, trigger: str, source: Append | None) -> None:
        """Synthesise a line, then put it on the output track."""
        voice = await self.sim.coach_voice.speak(text)
        self.sim.speech.register(text, voice)
        line = Line(
            text, trigger, self._encode(voice), self._bytes_per_ms, source=source
        )
        if trigger == "instructions":
            self._interrupt()
            self.line = line
        elif self.line is None:
            self.line = line
        else:
            self.queue.append(line)

    def _interrupt(self) -> None:
        line = self.line
        if line is not None and not line.done:
            self.sim.recorder.event(
                "live_line_replaced", text=line.text, spoken_ms=line.spoken_ms
            )
        self.queue = deque(queued for queued in self.queue if queued.fixture)
        self.line = None

    def _encode(self, ulaw: bytes) -> bytes:
        """Coach audio (8 kHz μ-law) in the session's format; μ-law goes out as is."""
        fmt = self._format
        if fmt["type"] == "audio/pcmu":
            return ulaw
        samples = audio.ulaw_decode(ulaw)
        if fmt["type"] == "audio/pcma":
            return audio.alaw_encode(samples)
        repeat = int(fmt["rate"]) // audio.SAMPLE_RATE
        return np.repeat(samples, repeat).astype("<i2").tobytes()

    def _silence(self, ms: int) -> bytes:
        kind = self._format["type"]
        size = ms * self._bytes_per_ms
        if kind == "audio/pcmu":
            return audio.silence(ms)
        if kind == "audio/pcma":
            return bytes([audio.ALAW_SILENCE_BYTE]) * size
        return bytes(size)

    async def _clock(self, drop_after: float | None) -> None:
        """Pace the output track, usage updates, expiry and a scenario's drop."""
        clock = self.sim.clock
        tick = DELTA_MS / 1000
        deltas = 0
        usage_sent = 0
        while not self.closing:
            elapsed = clock.now() - self.started_at
            if drop_after is not None and elapsed >= drop_after:
                self._drop(drop_after)
                return
            if elapsed >= self.service.max_session_seconds:
                self.close_reason = "expired"
                await self.finish("expired")
                return
            while deltas < int(elapsed / tick) and not self.closing:
                deltas += 1
                await self._output_delta()
            while usage_sent < int(elapsed / USAGE_EVERY_S) and not self.closing:
                usage_sent += 1
                await self.send(
                    {
                        "type": "session.usage.updated",
                        "usage": {"seconds": self.usage_seconds()},
                    }
                )
            # Sleep to the next delta; batching bounds the cost on a fast clock.
            await asyncio.sleep(max(0.002, clock.real((deltas + 1) * tick - elapsed)))

    async def _output_delta(self) -> None:
        """100 ms of the output track: the current line, else silence."""
        size = DELTA_MS * self._bytes_per_ms
        start_ms = self.out_ms
        self.out_ms += DELTA_MS
        line = self.line
        if line is None:
            await self._send_audio(self._silence(DELTA_MS))
            return
        if line.sent == 0 and not line.fixture:
            # The model is heard saying it from now on.
            self.conversation.append(("assistant", line.text))
            self.sim.recorder.event("live_line", text=line.text, trigger=line.trigger)
        chunk = line.audio[line.sent : line.sent + size]
        line.sent += len(chunk)
        if len(chunk) < size:
            chunk += self._silence(DELTA_MS)[len(chunk) :]
        await self._send_audio(chunk)
        if line.fragment_start_ms is None:
            line.fragment_start_ms = start_ms
        words = line.words
        # Words are spread evenly over the line's audio, sent as they are due.
        due = len(words) * line.sent // max(1, len(line.audio))
        if due > line.words_sent and (
            line.done or self.out_ms - line.fragment_start_ms >= FRAGMENT_MS
        ):
            first, line.words_sent = line.words_sent, due
            text = " ".join(words[first:due])
            await self.send(
                {
                    "type": "session.output_transcript.delta",
                    "delta": text if first == 0 else f" {text}",
                    "start_ms": line.fragment_start_ms,
                    "end_ms": self.out_ms,
                }
            )
            line.fragment_start_ms = None
        if line.done:
            await self._line_finished(line)

    async def _send_audio(self, chunk: bytes) -> None:
        await self.send(
            {
                "type": "session.output_audio.delta",
                "delta": base64.b64encode(chunk).decode(),
            }
        )

    async def _line_finished(self, line: Line) -> None:
        self.line = None
        if line.fixture:
            self.muted = False
            await self.send({"type": "session.output_audio.fixture.played"})
        if self.queue:
            self.line = self.queue.popleft()

    # --- fixtures ---------------------------------------------------------------------

    def _fixture_playing(self) -> bool:
        return any(
            line is not None and line.fixture for line in (self.line, *self.queue)
        )

    async def _fixture(self, event: dict[str, Any]) -> None:
        """Play a fixed PCM16/24 kHz clip: it interrupts the model and mutes input."""
        if "audio" not in event:
            raise missing_parameter("audio")
        try:
            clip = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, TypeError, ValueError) as err:
            raise invalid_value(
                "audio", "Invalid 'audio'. Expected base64 PCM16."
            ) from err
        if len(clip) % 2 or len(clip) > MAX_FIXTURE_BYTES:
            raise invalid_value(
                "audio", "Expected mono PCM16 at 24 kHz, 30 seconds at most."
            )
        if self._fixture_playing():
            raise EventError("fixture_already_playing", "A fixture is already playing.")
        samples = np.frombuffer(clip, dtype="<i2")
        rate = int(self._format["rate"])
        positions = np.arange(0, len(samples), 24000 / rate)
        resampled = np.interp(positions, np.arange(len(samples)), samples)
        kind = self._format["type"]
        if kind == "audio/pcmu":
            encoded = audio.ulaw_encode(resampled)
        elif kind == "audio/pcma":
            encoded = audio.alaw_encode(resampled)
        else:
            encoded = resampled.astype("<i2").tobytes()
        self._barge_in_by_fixture()
        self.line = Line("", "fixture", encoded, self._bytes_per_ms, fixture=True)
        self.muted = True
        await self.send({"type": "session.output_audio.fixture.playing"})

    def _barge_in_by_fixture(self) -> None:
        for task in list(self.preparing):
            task.cancel()
        self.preparing.clear()
        self._interrupt()

    # --- ending -----------------------------------------------------------------------

    def _drop(self, after: float) -> None:
        """Cut the connection like a network failure: no close frame at all."""
        self.sim.recorder.event("live_dropped", after=after)
        self.close_reason = "dropped"
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        """Stop everything this session runs and close its socket."""
        self.closing = True
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with suppress(ConnectionError):
            await self.ws.close()


REFUSALS = {
    "model_not_found": "The model `{model}` does not exist or you do not have access to it.",
    "credit_balance_exhausted": "Your credit balance is too low to start a session.",
    "rate_limit_exceeded": "Too many concurrent sessions for `{model}`.",
}


class LiveService:
    """Every GPT-Live connection, and the knobs scenarios set (see the module docstring)."""

    def __init__(self, sim: Simulator) -> None:
        """No connections yet."""
        self.sim = sim
        self.sessions: list[LiveSession] = []
        self.drop_after: float | None = None
        self.refuse_next: str | None = None
        self.start_delay = 0.5
        self.max_session_seconds = 3600.0

    def routes(self) -> list[web.RouteDef]:
        """The primary WebSocket endpoint."""
        return [web.get("/v1/live/sessions", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, then speak GPT-Live until either side closes."""
        authenticate(self.sim, request)
        if request.query:
            # The model goes in session.start; the SDK had to stop sending queries.
            name = next(iter(request.query))
            return openai_error(
                400,
                f"Unknown parameter: '{name}'. Send the model in 'session.start'.",
                "invalid_request_error",
                "unknown_parameter",
                name,
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = LiveSession(self.sim, self, ws, request.transport)
        self.sessions.append(session)
        self.sim.recorder.event("live_connected")
        try:
            async for message in ws:
                if message.type.name == "TEXT":
                    await session.handle(message.data)
                elif message.type.name == "BINARY":
                    await session.error(
                        EventError("invalid_json", "Send JSON text frames."), None
                    )
                if session.closing:
                    break
        finally:
            self.sessions.remove(session)
            await session.close()
            self.sim.recorder.event("live_closed", reason=session.close_reason)
        return ws

    async def shutdown(self) -> None:
        """Close every connection (the simulator is stopping)."""
        for session in self.sessions:
            if not session.closing:
                session.close_reason = "shutdown"
        await asyncio.gather(
            *(session.close() for session in self.sessions), return_exceptions=True
        )
