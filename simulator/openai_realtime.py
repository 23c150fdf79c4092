"""The OpenAI Realtime API over WebSocket, GA protocol only.

Beta-shaped clients are refused the way OpenAI refuses them since May 2026: an
`error` event with code beta_api_shape_disabled, then close code 4000.

`session.update` is strict like the real API: a field the GA session shape does not
have, at any depth, gets `error` unknown_parameter with its path in `param`
(e.g. "session.audio.input.format.rate": only audio/pcm takes a rate, 24000), and
the update is not applied. A GPT-Live model is refused: on the URL with HTTP 400
invalid_model, in `session.model` with an `error` invalid_model.

Knobs on `RealtimeService` (`sim.realtime`), for scenarios:

- `drop_after: float | None`: the next connection to be configured (its first
  `session.updated`) is cut this many simulated seconds later: the TCP connection is
  aborted, so the client sees close code 1006. Used once, then reset to None.
- `refuse_next: str | None`: the next connection gets an `error` with this code
  (e.g. "model_not_found", "insufficient_quota") right after the upgrade instead of
  `session.created`, and is closed with code 1008. Used once.
- `forced_tool: str | None`: the next response calls this tool, if declared.

Recorder events: realtime_connected {model}, realtime_session_updated {session},
realtime_error {code, param, message} (every `error` sent), realtime_refused {code},
realtime_dropped {after}, realtime_beta_refused, realtime_input_format_mismatch
{format}, realtime_truncated, realtime_response_cancelled {reason},
realtime_tool_call {name, arguments}, realtime_item_created {type, role, output,
call_id} (each conversation.item.create), realtime_closed {model}.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from contextlib import suppress
from dataclasses import dataclass, field
import json
import secrets
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
import numpy as np

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
    model_not_found,
    openai_error,
    unknown_parameter,
)

if TYPE_CHECKING:
    from .server import Simulator

BETA_MESSAGE = "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
BETA_CLOSE_CODE = 4000
# Keys only the beta session shape had.
BETA_SESSION_KEYS = {
    "input_audio_format",
    "output_audio_format",
    "modalities",
    "input_audio_transcription",
    "turn_detection",
    "voice",
    "temperature",
    "max_response_output_tokens",
}
# The GA session shape, strictly: every field the real API documents, no more.
FORMAT_SCHEMA: Schema = {"type": None, "rate": None}
TURN_DETECTION_FIELDS = {
    "server_vad": {
        "type",
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
        "idle_timeout_ms",
    },
    "semantic_vad": {"type", "eagerness", "create_response", "interrupt_response"},
}
TOOL_FIELDS = {
    "function": {"type", "name", "description", "parameters"},
    "mcp": {
        "type",
        "server_label",
        "server_url",
        "connector_id",
        "authorization",
        "headers",
        "allowed_tools",
        "require_approval",
        "server_description",
    },
}
SESSION_SCHEMA: Schema = {
    "type": None,
    "model": None,
    "output_modalities": None,
    "instructions": None,
    "audio": {
        "input": {
            "format": FORMAT_SCHEMA,
            "transcription": {
                "model": None,
                "language": None,
                "prompt": None,
                "keywords": None,
                "delay": None,
            },
            "noise_reduction": {"type": None},
            "turn_detection": dict.fromkeys(
                set().union(*TURN_DETECTION_FIELDS.values())
            ),
        },
        "output": {"format": FORMAT_SCHEMA, "voice": {"id": None}, "speed": None},
    },
    "tools": [dict.fromkeys(set().union(*TOOL_FIELDS.values()))],
    "tool_choice": {"type": None, "name": None, "server_label": None},
    "max_output_tokens": None,
    "tracing": {"workflow_name": None, "group_id": None, "metadata": None},
    "truncation": {
        "type": None,
        "retention_ratio": None,
        "token_limits": {"post_instructions": None},
    },
    "prompt": {"id": None, "version": None, "variables": None},
    "include": None,
}
FORMAT_TYPES = ("audio/pcm", "audio/pcmu", "audio/pcma")
PCM_RATE = 24000  # the only rate GA takes, and only on audio/pcm
VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
})  # fmt: skip
MAX_OUTPUT_TOKENS = 4096
CLOSE_CODE_REFUSED = 1008
SPEECH_START_FRAMES = 3  # 60 ms of speech starts a turn
DELTA_MS = 100  # audio per response.output_audio.delta
DELTA_PACE = 2.0  # responses stream twice as fast as real time, like the real API


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def default_session(model: str) -> dict[str, Any]:
    """The session a new connection starts with."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": _id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "create_response": True,
                    "interrupt_response": True,
                    "idle_timeout_ms": None,
                },
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "marin",
                "speed": 1.0,
            },
        },
    }


def _check_format(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in FORMAT_TYPES:
        raise invalid_value(
            f"{where}.type",
            "Invalid value. Supported values are: 'audio/pcm', 'audio/pcmu' and "
            "'audio/pcma'.",
        )
    if value["type"] != "audio/pcm" and "rate" in value:
        # TAC's note: GA rejects `rate` on G.711 as an unknown field.
        raise unknown_parameter(f"{where}.rate")
    if value.get("rate", PCM_RATE) != PCM_RATE:
        raise invalid_value(
            f"{where}.rate", f"Invalid value. Supported values are: {PCM_RATE}."
        )


def _check_input(value: dict[str, Any], where: str) -> None:
    _check_format(value.get("format"), f"{where}.format")
    detection = value.get("turn_detection")
    if detection is not None:
        kind = detection.get("type") if isinstance(detection, dict) else None
        if kind not in TURN_DETECTION_FIELDS:
            raise invalid_value(
                f"{where}.turn_detection.type",
                "Invalid value. Supported values are: 'server_vad' and 'semantic_vad'.",
            )
        assert isinstance(detection, dict)  # noqa: S101 - it has a known type
        for key in detection:
            if key not in TURN_DETECTION_FIELDS[kind]:
                raise unknown_parameter(f"{where}.turn_detection.{key}")
    transcription = value.get("transcription")
    if transcription is not None and not isinstance(
        transcription.get("model") if isinstance(transcription, dict) else None, str
    ):
        raise missing_parameter(f"{where}.transcription.model")
    noise = value.get("noise_reduction")
    if noise is not None and (
        not isinstance(noise, dict)
        or noise.get("type") not in ("near_field", "far_field")
    ):
        raise invalid_value(
            f"{where}.noise_reduction.type",
            "Invalid value. Supported values are: 'near_field' and 'far_field'.",
        )


def _check_output(value: dict[str, Any], where: str) -> None:
    _check_format(value.get("format"), f"{where}.format")
    if "voice" in value:
        voice = value["voice"]
        custom = isinstance(voice, dict) and isinstance(voice.get("id"), str)
        if not custom and voice not in VOICES:
            raise invalid_value(
                f"{where}.voice",
                f"Invalid value: '{voice}'. Supported values are: "
                + ", ".join(f"'{name}'" for name in sorted(VOICES))
                + ", or a custom voice {id}.",
            )


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise invalid_value("session.tools", "Expected an array.", "invalid_type")
    for index, tool in enumerate(tools):
        where = f"session.tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in TOOL_FIELDS:
            raise invalid_value(
                f"{where}.type",
                "Invalid value. Supported values are: 'function' and 'mcp'.",
            )
        assert isinstance(tool, dict)  # noqa: S101 - it has a known type
        for key in tool:
            if key not in TOOL_FIELDS[kind]:
                raise unknown_parameter(f"{where}.{key}")
        if kind == "function" and not isinstance(tool.get("name"), str):
            raise missing_parameter(f"{where}.name")


def check_update(update: dict[str, Any], model: str) -> None:
    """Refuse a GA `session.update` the real API would refuse; raises EventError."""
    if unknown := first_unknown_field(update, SESSION_SCHEMA, "session"):
        raise unknown_parameter(unknown)
    if "type" not in update:
        raise missing_parameter("session.type")
    if update["type"] != "realtime":
        raise invalid_value(
            "session.type", "Invalid value. Supported values are: 'realtime'."
        )
    if "model" in update:
        requested = update["model"]
        if requested in LIVE_MODELS:
            raise EventError(
                "invalid_model",
                f"The model `{requested}` is a GPT-Live model: use /v1/live/sessions.",
                "session.model",
            )
        if requested != model:
            # Unverified: the notes say the model is fixed at connect time.
            raise invalid_value(
                "session.model",
                f"The session's model is `{model}`; it cannot be changed.",
            )
    modalities = update.get("output_modalities", ["audio"])
    if modalities not in (["audio"], ["text"]):
        raise invalid_value(
            "session.output_modalities",
            "Invalid value. Supported values are: ['audio'] or ['text'].",
        )
    if not isinstance(update.get("instructions", ""), str):
        raise invalid_value(
            "session.instructions", "Expected a string.", "invalid_type"
        )
    settings = update.get("audio") or {}
    if isinstance(settings.get("input"), dict):
        _check_input(settings["input"], "session.audio.input")
    if isinstance(settings.get("output"), dict):
        _check_output(settings["output"], "session.audio.output")
    if "tools" in update:
        _check_tools(update["tools"])
    limit = update.get("max_output_tokens", "inf")
    if limit != "inf" and not (
        isinstance(limit, int) and 1 <= limit <= MAX_OUTPUT_TOKENS
    ):
        raise invalid_value(
            "session.max_output_tokens",
            f"Invalid value. Expected an integer from 1 to {MAX_OUTPUT_TOKENS}, or 'inf'.",
        )


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        # A format is one value; everything else merges field by field.
        if (
            key != "format"
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
        ):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class AssistantItem:
    """An assistant audio item, for truncation."""

    item_id: str
    text: str
    audio_ms: int = 0


@dataclass
class RealtimeSession:
    """One WebSocket connection."""

    sim: Simulator
    ws: web.WebSocketResponse
    session: dict[str, Any]
    conversation: list[tuple[str, str]] = field(default_factory=list)
    items: dict[str, AssistantItem] = field(default_factory=dict)
    response: asyncio.Task[None] | None = None
    response_id: str | None = None
    # voice activity detection state
    speech_frames: int = 0
    silence_ms: int = 0
    in_speech: bool = False
    speech_audio: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)
    audio_ms: int = 0
    speech_item: str | None = None
    idle_task: asyncio.Task[None] | None = None
    drop_task: asyncio.Task[None] | None = None
    format_mismatch_noted: bool = False
    configured: bool = False
    transport: asyncio.Transport | None = None

    # --- sending --------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send a server event."""
        event.setdefault("event_id", _id("event"))
        if not self.ws.closed:
            await self.ws.send_json(event)

    async def _output_item(
        self, stage: Literal["added", "done"], response_id: str, item: dict[str, Any]
    ) -> None:
        """response.output_item.added or .done."""
        await self.send(
            {
                "type": f"response.output_item.{stage}",
                "response_id": response_id,
                "output_index": 0,
                "item": item,
            }
        )

    async def _conversation_item(
        self, stage: Literal["added", "done"], item: dict[str, Any]
    ) -> None:
        """conversation.item.added or .done."""
        await self.send(
            {
                "type": f"conversation.item.{stage}",
                "item": item,
                "previous_item_id": None,
            }
        )

    async def error(
        self,
        message: str,
        code: str | None = None,
        event_id: str | None = None,
        param: str | None = None,
    ) -> None:
        """An `error` event; the connection stays open, as with the real API."""
        self.sim.recorder.event(
            "realtime_error", code=code, param=param, message=message
        )
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    async def refuse_beta(self) -> None:
        """What OpenAI does with a beta-shaped client."""
        self.sim.recorder.event("realtime_beta_refused")
        await self.error(BETA_MESSAGE, "beta_api_shape_disabled")
        await self.ws.close(code=BETA_CLOSE_CODE, message=BETA_MESSAGE.encode())

    # --- client events ----------------------------------------------------------------

    @property
    def _input(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.session["audio"]["input"]
        return settings

    @property
    def _vad(self) -> dict[str, Any] | None:
        detection = self._input.get("turn_detection")
        return detection if isinstance(detection, dict) else None

    async def handle(self, raw: str) -> None:
        """One client event."""
        try:
            event = json.loads(raw)
        except ValueError:
            await self.error("Invalid JSON", "invalid_json")
            return
        kind = event.get("type") if isinstance(event, dict) else None
        event_id = event.get("event_id") if isinstance(event, dict) else None
        match kind:
            case "session.update":
                await self._session_update(event, event_id)
            case "input_audio_buffer.append":
                await self._append(event, event_id)
            case "input_audio_buffer.commit":
                await self._end_speech(committed_by_client=True)
            case "input_audio_buffer.clear":
                self.speech_audio.clear()
                self.in_speech = False
                await self.send({"type": "input_audio_buffer.cleared"})
            case "conversation.item.create":
                await self._item_create(event, event_id)
            case "conversation.item.truncate":
                await self._truncate(event, event_id)
            case "response.create":
                await self._response_create(event, event_id)
            case "response.cancel":
                await self._response_cancel(event_id)
            case _:
                await self.error(
                    f"Invalid value: '{kind}'.", "invalid_value", event_id, "type"
                )

    async def _session_update(
        self, event: dict[str, Any], event_id: str | None
    ) -> None:
        update = event.get("session")
        if not isinstance(update, dict) or BETA_SESSION_KEYS & update.keys():
            await self.refuse_beta()
            return
        try:
            check_update(update, self.session["model"])
        except EventError as err:
            await self.error(err.message, err.code, event_id, err.param)
            return
        self.session = _merge(self.session, update)
        self.sim.recorder.event("realtime_session_updated", session=self.session)
        await self.send({"type": "session.updated", "session": self.session})
        if not self.configured:
            self.configured = True
            drop_after, self.sim.realtime.drop_after = (
                self.sim.realtime.drop_after,
                None,
            )
            if drop_after is not None:
                self.drop_task = asyncio.create_task(self._drop(drop_after))

    async def _drop(self, after: float) -> None:
        """Cut the connection like a network failure: no close frame at all."""
        await self.sim.clock.sleep(after)
        self.sim.recorder.event("realtime_dropped", after=after)
        if self.transport is not None:
            self.transport.abort()

    async def refuse(self, code: str) -> None:
        """An admission error right after the upgrade, then the server closes."""
        self.sim.recorder.event("realtime_refused", code=code)
        await self.error(
            f"The session could not be started ({code}).", code, None, None
        )
        await self.ws.close(code=CLOSE_CODE_REFUSED, message=code.encode())

    async def _append(self, event: dict[str, Any], event_id: str | None) -> None:
        try:
            chunk = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, TypeError):
            await self.error(
                "Invalid 'audio'. Expected base64-encoded audio.",
                "invalid_value",
                event_id,
                "audio",
            )
            return
        if (
            self._input["format"].get("type") != "audio/pcmu"
            and not self.format_mismatch_noted
        ):
            # A real server would hear noise; the simulator notes the mismatch once.
            self.format_mismatch_noted = True
            self.sim.recorder.event(
                "realtime_input_format_mismatch", format=self._input["format"]
            )
        self.pending += chunk
        while len(self.pending) >= audio.FRAME_BYTES:
            frame = bytes(self.pending[: audio.FRAME_BYTES])
            del self.pending[: audio.FRAME_BYTES]
            await self._vad_frame(frame)

    async def _vad_frame(self, frame: bytes) -> None:
        self.audio_ms += audio.FRAME_MS
        vad = self._vad
        if vad is None:
            self.speech_audio += frame
            return
        if audio.is_speech(frame):
            self.speech_frames += 1
            self.silence_ms = 0
            self.speech_audio += frame
            if not self.in_speech and self.speech_frames >= SPEECH_START_FRAMES:
                self.in_speech = True
                self.speech_item = _id("item")
                self._cancel_idle()
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": max(
                            0, self.audio_ms - SPEECH_START_FRAMES * audio.FRAME_MS
                        ),
                        "item_id": self.speech_item,
                    }
                )
                if (
                    vad.get("interrupt_response", True)
                    and self.response
                    and not self.response.done()
                ):
                    await self._cancel_response("turn_detected")
        else:
            self.speech_frames = 0
            if self.in_speech:
                self.speech_audio += frame
                self.silence_ms += audio.FRAME_MS
                if self.silence_ms >= int(vad.get("silence_duration_ms") or 500):
                    await self._end_speech(committed_by_client=False)
            else:
                self.speech_audio.clear()

    async def _end_speech(self, *, committed_by_client: bool) -> None:
        item_id = self.speech_item or _id("item")
        if not committed_by_client:
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": self.audio_ms,
                    "item_id": item_id,
                }
            )
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": None,
            }
        )
        user_audio = bytes(self.speech_audio)
        self.speech_audio.clear()
        self.in_speech = False
        self.silence_ms = 0
        self.speech_item = None
        item = {"id": item_id, "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        await self._conversation_item("added", item)
        await self._conversation_item("done", item)
        transcript = self.sim.speech.transcribe(user_audio) or ""
        self.conversation.append(("user", transcript))
        if self._input.get("transcription"):
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcript,
                }
            )
        vad = self._vad
        if not committed_by_client and vad and vad.get("create_response", True):
            self._start_response({})

    async def _item_create(self, event: dict[str, Any], event_id: str | None) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in (
            "message",
            "function_call_output",
        ):
            await self.error("Invalid 'item'.", "invalid_value", event_id, "item")
            return
        item = {"id": item.get("id") or _id("item"), "status": "completed", **item}
        self.sim.recorder.event(
            "realtime_item_created",
            type=item["type"],
            role=item.get("role"),
            output=item.get("output"),
            call_id=item.get("call_id"),
        )
        if item["type"] == "function_call_output":
            self.conversation.append(("tool", str(item.get("output", ""))))
        if item["type"] == "message":
            text = " ".join(
                part.get("text", "")
                for part in item.get("content", [])
                if isinstance(part, dict)
            )
            self.conversation.append((str(item.get("role", "user")), text))
        await self._conversation_item("added", item)
        await self._conversation_item("done", item)

    async def _truncate(self, event: dict[str, Any], event_id: str | None) -> None:
        item = self.items.get(str(event.get("item_id")))
        end_ms = event.get("audio_end_ms")
        if item is None:
            await self.error(
                "Only model output audio messages can be truncated",
                "unsupported_content_type",
                event_id,
            )
            return
        if not isinstance(end_ms, int) or end_ms < 0:
            await self.error(
                "Invalid 'audio_end_ms'.", "invalid_value", event_id, "audio_end_ms"
            )
            return
        if end_ms > item.audio_ms:
            await self.error(
                f"Audio content of {item.audio_ms}ms is already shorter than {end_ms}ms",
                "invalid_value",
                event_id,
                "audio_end_ms",
            )
            return
        self.sim.recorder.event(
            "realtime_truncated",
            item_id=item.item_id,
            audio_end_ms=end_ms,
            audio_ms=item.audio_ms,
        )
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item.item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    async def _response_create(
        self, event: dict[str, Any], event_id: str | None
    ) -> None:
        if self.response is not None and not self.response.done():
            await self.error(
                "Conversation already has an active response in progress.",
                "conversation_already_has_active_response",
                event_id,
            )
            return
        response = event.get("response")
        self._start_response(response if isinstance(response, dict) else {})

    async def _response_cancel(self, event_id: str | None) -> None:
        if self.response is None or self.response.done():
            await self.error(
                "Cancellation failed: no active response found",
                "response_cancel_not_active",
                event_id,
            )
            return
        await self._cancel_response("client_cancelled")

    # --- responses --------------------------------------------------------------------

    def _start_response(self, options: dict[str, Any]) -> None:
        self._cancel_idle()
        self.response_id = _id("resp")
        self.response = asyncio.create_task(self._respond(self.response_id, options))

    async def _cancel_response(self, reason: str) -> None:
        task, response_id = self.response, self.response_id
        if task is None or task.done():
            return
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        self.sim.recorder.event("realtime_response_cancelled", reason=reason)
        await self.send(
            {
                "type": "response.done",
                "response": {"id": response_id, "object": "realtime.response", "status": "cancelled",
                             "status_details": {"type": "cancelled", "reason": reason}, "output": []},
            }
        )  # fmt: skip

    async def _respond(self, response_id: str, options: dict[str, Any]) -> None:
        instructions = "\n".join(
            part
            for part in (
                self.session.get("instructions", ""),
                options.get("instructions", ""),
            )
            if part
        )
        tools = [
            t.get("name", "")
            for t in self.session.get("tools", [])
            if isinstance(t, dict)
        ]
        forced = self.sim.realtime.forced_tool
        if forced and forced in tools:
            self.sim.realtime.forced_tool = None
            answer = coach_brain.Reply(
                tool=forced, arguments='{"reason": "forced by the scenario"}'
            )
        elif self.conversation and self.conversation[-1][0] == "system":
            # A system message just before the response: the model does what it says.
            answer = coach_brain.Reply(
                coach_brain.live_line(
                    self.conversation[-1][1], instructions, [], self.conversation
                )
            )
        else:
            answer = coach_brain.reply(instructions, self.conversation, tools)
        await self.send(
            {
                "type": "response.created",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            }
        )
        if answer.tool:
            await self._tool_call(response_id, answer)
        else:
            await self._speak(response_id, answer.text)
        await self.send(
            {
                "type": "response.done",
                "response": {"id": response_id, "object": "realtime.response", "status": "completed", "output": [],
                             "usage": {"total_tokens": 100, "input_tokens": 60, "output_tokens": 40}},
            }
        )  # fmt: skip
        self._arm_idle()

    async def _tool_call(self, response_id: str, answer: coach_brain.Reply) -> None:
        item_id, call_id = _id("item"), _id("call")
        assert answer.tool is not None  # noqa: S101
        self.sim.recorder.event(
            "realtime_tool_call", name=answer.tool, arguments=answer.arguments
        )
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "name": answer.tool,
            "call_id": call_id,
            "arguments": "",
        }
        await self._output_item("added", response_id, item)
        await self.send(
            {
                "type": "response.function_call_arguments.delta",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "call_id": call_id,
                "delta": answer.arguments,
            }
        )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "call_id": call_id,
                "name": answer.tool,
                "arguments": answer.arguments,
            }
        )
        item = item | {"status": "completed", "arguments": answer.arguments}
        await self._output_item("done", response_id, item)

    async def _speak(self, response_id: str, text: str) -> None:
        item_id = _id("item")
        voice = await self.sim.coach_voice.speak(text)
        self.sim.speech.register(text, voice)
        item = AssistantItem(item_id, text)
        self.items[item_id] = item
        self.conversation.append(("assistant", text))
        message = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        base = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        await self._output_item("added", response_id, message)
        await self._conversation_item("added", message)
        await self.send(
            {
                "type": "response.content_part.added",
                **base,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        words = text.split()
        chunk_bytes = DELTA_MS * audio.BYTES_PER_MS
        chunks = [voice[i : i + chunk_bytes] for i in range(0, len(voice), chunk_bytes)]
        # Paced against the clock, not by one sleep per delta: on a fast simulated
        # clock a sleep per delta would fall behind real-time playback.
        started = self.sim.clock.now()
        for index, chunk in enumerate(chunks):
            due = started + index * DELTA_MS / 1000 / DELTA_PACE
            if (ahead := due - self.sim.clock.now()) > 0:
                await self.sim.clock.sleep(ahead)
            await self.send(
                {
                    "type": "response.output_audio.delta",
                    **base,
                    "delta": base64.b64encode(self._output(chunk)).decode(),
                }
            )
            item.audio_ms += audio.duration_ms(chunk)
            share = words[
                index * len(words) // len(chunks) : (index + 1)
                * len(words)
                // len(chunks)
            ]
            if share:
                await self.send(
                    {
                        "type": "response.output_audio_transcript.delta",
                        **base,
                        "delta": " ".join(share) + " ",
                    }
                )
        await self.send({"type": "response.output_audio.done", **base})
        await self.send(
            {
                "type": "response.output_audio_transcript.done",
                **base,
                "transcript": text,
            }
        )
        await self.send(
            {
                "type": "response.content_part.done",
                **base,
                "part": {"type": "audio", "transcript": text},
            }
        )
        done = message | {
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": text}],
        }
        await self._output_item("done", response_id, done)
        await self._conversation_item("done", done)

    def _output(self, chunk: bytes) -> bytes:
        """Audio in the session's output format: μ-law as is, else 24 kHz PCM."""
        output_format = self.session["audio"]["output"]["format"].get("type")
        if output_format == "audio/pcmu":
            return chunk
        return np.repeat(audio.ulaw_decode(chunk), 3).astype("<i2").tobytes()

    # --- idle timeout ----------------------------------------------------------------

    def _arm_idle(self) -> None:
        vad = self._vad
        timeout_ms = vad.get("idle_timeout_ms") if vad else None
        if timeout_ms:
            self._cancel_idle()
            self.idle_task = asyncio.create_task(self._idle(int(timeout_ms)))

    def _cancel_idle(self) -> None:
        if self.idle_task is not None and self.idle_task is not asyncio.current_task():
            self.idle_task.cancel()
        self.idle_task = None

    async def _idle(self, timeout_ms: int) -> None:
        await self.sim.clock.sleep(timeout_ms / 1000)
        if self.in_speech:
            return
        await self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": self.audio_ms,
                "audio_end_ms": self.audio_ms,
                "item_id": _id("item"),
            }
        )
        self.conversation.append(("user", ""))
        self.idle_task = None
        self._start_response(
            {"instructions": "The user has been silent. Ask if they are still there."}
        )

    async def close(self) -> None:
        """Stop everything this connection runs."""
        self._cancel_idle()
        for task in (self.response, self.drop_task):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        with suppress(ConnectionError):
            await self.ws.close()


class RealtimeService:
    """All Realtime connections."""

    def __init__(self, sim: Simulator) -> None:
        """No connections yet."""
        self.sim = sim
        self.sessions: list[RealtimeSession] = []
        self.forced_tool: str | None = None
        self.drop_after: float | None = None
        self.refuse_next: str | None = None

    def routes(self) -> list[web.RouteDef]:
        """The WebSocket endpoint."""
        return [web.get("/v1/realtime", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, then speak the GA protocol."""
        authenticate(self.sim, request)
        if "call_id" in request.query:
            # The sideband of a SIP call (see simulator/sip.py).
            return await self.sim.sip.realtime_sideband(request)
        model = request.query.get("model", "")
        if model not in MODELS:
            return model_not_found(model)
        if model in LIVE_MODELS:
            # Unverified whether the real API refuses before or after the upgrade.
            return openai_error(
                400,
                f"The model `{model}` is a GPT-Live model: use /v1/live/sessions.",
                "invalid_request_error",
                "invalid_model",
                "model",
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = RealtimeSession(self.sim, ws, default_session(model))
        session.transport = request.transport
        self.sessions.append(session)
        self.sim.recorder.event("realtime_connected", model=model)
        try:
            if "realtime=v1" in request.headers.get("OpenAI-Beta", ""):
                await session.refuse_beta()
                return ws
            if (code := self.refuse_next) is not None:
                self.refuse_next = None
                await session.refuse(code)
                return ws
            await session.send({"type": "session.created", "session": session.session})
            async for message in ws:
                if message.type.name == "TEXT":
                    await session.handle(message.data)
        finally:
            self.sessions.remove(session)
            await session.close()
            self.sim.recorder.event("realtime_closed", model=model)
        return ws

    async def shutdown(self) -> None:
        """Close every connection."""
        await asyncio.gather(
            *(session.close() for session in self.sessions), return_exceptions=True
        )
