"""The bridge between a Twilio Media Stream and an OpenAI live-voice engine.

Audio passes through as base64 μ-law, never decoded, in both directions. On top
of that the bridge carries out the coach policy: it greets, ends the call after
the goodbye has actually played (a Twilio mark comes back), nudges a silent
sleeper, keeps to the longest-call limit, tells the model when proof arrives,
grants `end_call` only with proof, and, for the Realtime engine, handles
barge-in (`clear`, truncate at the audio heard, cancel).

Bad frames from Twilio are dropped and logged once per kind; the call goes on.
No Home Assistant imports.
"""

from __future__ import annotations

import asyncio
import binascii
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import logging
import time
from typing import Any, Protocol

import orjson

from . import voice_engine
from .call_session import CallSession
from .coach import CoachPolicy, Decision, ProofState
from .voice_engine import EngineError, VoiceEngine

LOGGER = logging.getLogger(__package__)

# Twilio's messages are a few hundred bytes; a media frame is about 400.
MAX_TWILIO_MESSAGE = 16 * 1024
# Model audio made before Twilio's stream started (the greeting), held until it does.
MAX_EARLY_DELTAS = 600
# How long the sleeper may stay silent after the coach finished before a nudge,
# and how many unanswered nudges end the call (the redial comes next).
SILENCE_NUDGE_SECONDS = 8.0
MAX_NUDGES = 3
# A goodbye that never finishes playing does not keep the line open.
GOODBYE_TIMEOUT_SECONDS = 20.0
_END_MARK = "end"
_QUIET_MARK = "quiet"


class Outcome(StrEnum):
    """How the stream ended."""

    ENDED = "ended"  # the coach finished the call: hang up
    FALLBACK = "fallback"  # OpenAI failed: continue turn-based
    HUNG_UP = "hung_up"  # Twilio stopped the stream (hang-up, redirect)


class TwilioSocket(Protocol):
    """Twilio's side of the stream, as the bridge uses it."""

    def messages(self) -> AsyncIterator[str | bytes]:
        """Text frames as str, binary frames as bytes, until the socket closes."""

    async def send(self, data: bytes) -> None:
        """Send one JSON text frame."""

    async def close(self) -> None:
        """Close the socket (Twilio then asks the <Connect action> URL)."""


@dataclass(frozen=True, kw_only=True)
class Lines:
    """What the bridge asks the model to say, in plain instructions."""

    greeting: str
    goodbye_awake: str
    goodbye_not_awake: str
    time_up: str
    nudge: str
    prove_first: str
    proof_arrived: str


def lines_for(name: str, language_name: str) -> Lines:
    """The instructions for one sleeper; the model speaks their language."""
    speak = f"Speak {language_name}."
    return Lines(
        greeting=(
            f"The call has just been answered. Greet {name} by name, tell them it is "
            f"time to get up, and ask how they feel. {speak}"
        ),
        goodbye_awake=(
            f"{name} is up. Say a warm goodbye in one short sentence, then stay silent. "
            f"{speak}"
        ),
        goodbye_not_awake=(
            f"{name} does not answer. Say in one short sentence that you will call "
            f"back, then stay silent. {speak}"
        ),
        time_up=(
            f"The call's time is up. Tell {name} in one short sentence to get up now, "
            f"say goodbye, then stay silent. {speak}"
        ),
        nudge=(
            f"{name} has been silent for a while. Ask loudly and cheerfully whether they "
            f"are awake, and ask them to answer out loud. {speak}"
        ),
        prove_first=(
            f"{name} tried to end the call but has not proven being up. Refuse kindly "
            "and tell them exactly what to do first."
        ),
        proof_arrived=(
            f"Home Assistant confirms that {name} is up. Congratulate them in one "
            "sentence and tell them they may say goodbye now."
        ),
    )


def _payload_ms(payload: str) -> int:
    """Milliseconds of base64 μ-law audio (8 bytes a millisecond), without decoding it."""
    padding = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    return ((len(payload) * 3 >> 2) - padding) >> 3


class Bridge:
    """One call's bridge; `open` when Twilio fetches the TwiML, `run` when the stream connects."""

    def __init__(
        self,
        *,
        engine: VoiceEngine,
        session: CallSession,
        policy: CoachPolicy,
        proof: Callable[[], ProofState],
        lines: Lines,
        now: Callable[[], datetime],
        max_duration: timedelta,
        stream_token: str,
    ) -> None:
        """Nothing runs until `open`."""
        self.engine = engine
        self.session = session
        self.policy = policy
        self._proof = proof
        self.lines = lines
        self._now = now
        self._max_duration = max_duration
        self._stream_token = stream_token
        self.outcome: Outcome | None = None
        self.failure: str | None = None
        self._ready = False
        self._twilio: TwilioSocket | None = None
        self._stream_sid: str | None = None
        self._early: deque[tuple[str, str]] = deque(maxlen=MAX_EARLY_DELTAS)
        # The coach's lines before the stream started: heard only if it does.
        self._early_lines: list[tuple[str, datetime]] = []
        self._refused_since_spoken = False
        # Barge-in bookkeeping (Realtime): the reply being played, and its marks.
        self._item = ""
        self._item_sent_ms = 0
        self._item_played_ms = 0
        self._muted_item = ""
        self._marks: deque[tuple[str, str, int]] = deque()
        self._mark_seq = 0
        self._ending = False
        self._goodbye_instruction = ""
        self._goodbye_said = (
            False  # the coach has said something since the goodbye was asked
        )
        self._goodbye_retries = 0
        self._nudges = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bad: set[str] = set()
        # For the benchmark: when speech_started arrived and when `clear` left.
        self.barge_in_seconds: list[float] = []

    # --- opening ------------------------------------------------------------------

    async def open(self) -> None:
        """Connect the engine and have the coach greet; a failure is kept for the stream."""
        proof = self._proof()
        try:
            await self.engine.connect(self, self._instructions(proof))
            self._ready = True
            self.session.mark("openai_connected", self._now())
            await self.engine.speak(self.lines.greeting)
        except EngineError as err:
            LOGGER.warning("OpenAI could not take the live call: %s", err)
            self._fail(err.reason)

    def _instructions(self, proof: ProofState) -> str:
        return self.policy.instructions(
            proof, now=self._now(), extra=self.session.extra_instructions
        )

    # --- the stream ---------------------------------------------------------------

    async def run(self, twilio: TwilioSocket) -> Outcome:
        """Carry the stream until it ends; how it ended decides what Twilio does next."""
        self._twilio = twilio
        if self.failure is not None:
            # OpenAI already failed: end the stream at once, the call goes turn-based.
            await twilio.close()
            return Outcome.FALLBACK
        loads, a2b_base64 = orjson.loads, binascii.a2b_base64
        try:
            async for data in twilio.messages():
                # Checked here, not in a method of its own: Twilio sends fifty media
                # frames a second, and every coroutine call costs time.
                if type(data) is not str:
                    self._drop("a binary frame")
                    continue
                if len(data) > MAX_TWILIO_MESSAGE:
                    self._drop("an oversized frame")
                    continue
                try:
                    message = loads(data)
                except orjson.JSONDecodeError:
                    self._drop("a frame that is not JSON")
                    continue
                if type(message) is not dict:
                    self._drop("a frame that is not a JSON object")
                    continue
                event = message.get("event")
                if event != "media":
                    if await self._twilio_event(event, message):
                        break
                    continue
                if self._stream_sid is None:
                    self._drop("media before start")
                    continue
                media = message.get("media")
                payload = media.get("payload") if type(media) is dict else None
                if type(payload) is not str:
                    self._drop("media without a payload")
                    continue
                try:
                    a2b_base64(payload, strict_mode=True)
                except ValueError:  # binascii.Error, or not ASCII at all
                    self._drop("media with invalid base64")
                    continue
                if self._ready:
                    await self.engine.append_audio(payload)
        finally:
            self._twilio = None
            self._cancel_timers()
        if self.outcome is None:
            self.outcome = Outcome.HUNG_UP
        return self.outcome

    async def _twilio_event(self, event: object, message: dict[str, Any]) -> bool:
        """Handle a message from Twilio other than media; True when Twilio stopped the stream."""
        if event == "mark":
            self._mark_played(message)
            return False
        if event == "start":
            await self._start(message)
            return False
        if event == "stop":
            return True
        if event not in ("connected", "dtmf"):
            self._drop("an unknown event")
        return False

    def _drop(self, what: str) -> None:
        if what not in self._bad:
            self._bad.add(what)
            LOGGER.warning(
                "Dropped %s on the Media Stream of the call to %s (logged once per call)",
                what,
                self.session.sleeper.name,
            )

    async def _start(self, message: dict[str, Any]) -> None:
        if self._stream_sid is not None:
            self._drop("a second start")
            return
        start = message.get("start")
        start = start if type(start) is dict else {}
        parameters = start.get("customParameters")
        token = parameters.get("token") if type(parameters) is dict else None
        stream_sid = start.get("streamSid") or message.get("streamSid")
        call_sid = start.get("callSid")
        if (
            token != self._stream_token
            or type(stream_sid) is not str
            or not stream_sid
            or (self.session.call_sid and call_sid != self.session.call_sid)
        ):
            LOGGER.warning("Refused a Media Stream whose start does not match the call")
            self._finish(Outcome.HUNG_UP)
            return
        self._stream_sid = stream_sid
        self.session.mark("stream_started", self._now())
        for text, at in self._early_lines:
            self.session.say("coach", text, at)
        self._early_lines.clear()
        self._arm_time_limit()
        early = list(self._early)
        self._early.clear()
        for payload, item_id in early:
            await self._forward(payload, item_id)

    # --- model audio to Twilio ----------------------------------------------------

    async def on_audio(self, payload: str, item_id: str) -> None:
        """Model audio: to Twilio as it comes, or held until the stream has started."""
        if item_id and item_id == self._muted_item:
            return  # the rest of a reply the sleeper talked over
        if self._stream_sid is None:
            self._early.append((payload, item_id))
            return
        await self._forward(payload, item_id)

    async def _forward(self, payload: str, item_id: str) -> None:
        twilio = self._twilio
        if twilio is None:
            return
        sid = self._stream_sid
        await twilio.send(
            orjson.dumps(
                {"event": "media", "streamSid": sid, "media": {"payload": payload}}
            )
        )
        if not self.engine.client_barge_in:
            return
        if item_id != self._item:
            self._item, self._item_sent_ms, self._item_played_ms = item_id, 0, 0
        self._item_sent_ms += _payload_ms(payload)
        self._mark_seq += 1
        name = str(self._mark_seq)
        self._marks.append((name, item_id, self._item_sent_ms))
        await twilio.send(
            orjson.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}})
        )

    def _mark_played(self, message: dict[str, Any]) -> None:
        mark = message.get("mark")
        name = mark.get("name") if type(mark) is dict else None
        if name == _END_MARK:
            self._finish(Outcome.ENDED)
            return
        if name == _QUIET_MARK:
            self._arm_silence()
            return
        marks = self._marks
        if marks and marks[0][0] == name:
            # The usual case: the oldest mark has played.
            _, item_id, sent_ms = marks.popleft()
            if item_id == self._item:
                self._item_played_ms = sent_ms
            return
        if not any(queued == name for queued, _, _ in marks):
            return  # cleared, or not ours
        while marks:
            queued, item_id, sent_ms = marks.popleft()
            if item_id == self._item:
                self._item_played_ms = sent_ms
            if queued == name:
                break

    async def _send_mark(self, name: str) -> None:
        if self._twilio is not None and self._stream_sid is not None:
            await self._twilio.send(
                orjson.dumps(
                    {
                        "event": "mark",
                        "streamSid": self._stream_sid,
                        "mark": {"name": name},
                    }
                )
            )

    # --- what the engine reports (EngineListener) --------------------------------

    async def on_speech_started(self) -> None:
        """Realtime VAD: the sleeper talks; stop what Twilio still has queued."""
        self._sleeper_active()
        started = time.perf_counter()
        if await self._stop_playback():
            self.barge_in_seconds.append(time.perf_counter() - started)

    async def _stop_playback(self) -> bool:
        """Drop what Twilio still has queued of the coach's reply, and cut it there.

        The reply is cut where the sleeper stopped hearing it, never past the audio
        that exists.
        """
        twilio = self._twilio
        if twilio is None or not self._marks or not self._item:
            return False  # nothing is playing: nothing to interrupt
        await twilio.send(
            orjson.dumps({"event": "clear", "streamSid": self._stream_sid})
        )
        heard = min(self._item_played_ms, self._item_sent_ms)
        self._muted_item = self._item
        self._marks.clear()
        self._item = ""
        await self.engine.interrupt(self._muted_item, heard)
        return True

    def on_coach_speaking(self) -> None:
        """The coach talks: the sleeper is not silent at it."""
        self._cancel_timer("silence")
        if self._ending:
            self._goodbye_said = (
                False  # only the words of this reply count as the goodbye
            )

    def on_sleeper_speaking(self) -> None:
        """GPT-Live heard the sleeper."""
        self._sleeper_active()

    def on_sleeper_said(self, text: str) -> None:
        """A finished utterance: the coach policy decides whether it ends the call."""
        self._sleeper_active()
        self._refused_since_spoken = False
        self.session.say("sleeper", text, self._now())
        self.session.turns += 1
        if self._ending:
            return
        decision = self.policy.decide(text, self._proof())
        if decision is Decision.END_AWAKE:
            self._end(awake=True, instruction=self.lines.goodbye_awake)
        elif decision is Decision.PROVE_FIRST:
            self._spawn(self.engine.advise(self.lines.prove_first))

    def on_coach_said(self, text: str) -> None:
        """Keep the coach's line in the transcript (once the sleeper can hear it)."""
        if self._ending:
            self._goodbye_said = True
        if self._stream_sid is None:
            self._early_lines.append((text, self._now()))
        else:
            self.session.say("coach", text, self._now())

    def on_coach_done(self, *, prompted: bool) -> None:
        """A reply finished: after the goodbye, end once it has played; else wait for the sleeper."""
        if self._ending:
            if not prompted:
                return
            if not self._goodbye_said and self._goodbye_retries < 1:
                # Asked for a goodbye, the model answered without a word (an end_call
                # tool call, say): ask once more, so the sleeper hears one.
                self._goodbye_retries += 1
                self._spawn(self.engine.speak(self._goodbye_instruction))
                return
            self._spawn(self._send_mark(_END_MARK))
            return
        # The silence clock starts when the reply has played, not when it was made.
        self._spawn(self._send_mark(_QUIET_MARK))

    def on_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        """The model's end_call: granted only with proof."""
        if name != "end_call":
            self._spawn(
                self.engine.answer_tool(
                    call_id, '{"error": "unknown function"}', respond=True
                )
            )
            return
        if self._ending:
            self._spawn(
                self.engine.answer_tool(call_id, '{"ending": true}', respond=False)
            )
            return
        proof = self._proof()
        if proof.allows_ending:
            self._spawn(
                self.engine.answer_tool(call_id, '{"ending": true}', respond=False)
            )
            self._end(awake=True, instruction=self.lines.goodbye_awake)
            return
        if self._refused_since_spoken:
            # Refused already, and the sleeper has said nothing since: the model was
            # told what is missing; it need not be asked to say it again.
            self._spawn(
                self.engine.answer_tool(call_id, '{"ending": false}', respond=False)
            )
            return
        self._refused_since_spoken = True
        missing = ", ".join(proof.what) or "the agreed proof"
        output = orjson.dumps(
            {
                "ending": False,
                "reason": "No proof of being up yet.",
                "what_to_do": f"Get up and trigger: {missing}.",
            }
        ).decode()
        self._spawn(self.engine.answer_tool(call_id, output, respond=True))

    def on_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        """Keep what the model used in the call record."""
        self.session.add_usage(usage, cumulative=cumulative)

    def on_engine_closed(self, reason: str) -> None:
        """OpenAI went away mid-call: the call continues turn-based."""
        if self.outcome is None:
            self._fail(reason)

    def proof_arrived(self) -> None:
        """A verification entity fired, or confirm_awake: the model stops pushing."""
        if not self._ready or self._ending:
            return
        self._spawn(
            self.engine.advise(
                self.lines.proof_arrived,
                instructions=self._instructions(self._proof()),
                respond=True,
            )
        )

    # --- ending -------------------------------------------------------------------

    def _end(self, *, awake: bool, instruction: str) -> None:
        """Say goodbye; the call ends once the goodbye has played."""
        if self._ending:
            return
        self._ending = True
        self._goodbye_instruction = instruction
        if awake:
            self.session.awake = True
        self._cancel_timer("silence")
        self._spawn(self._say_goodbye(instruction))
        self._timer(
            "goodbye", GOODBYE_TIMEOUT_SECONDS, lambda: self._finish(Outcome.ENDED)
        )

    async def _say_goodbye(self, instruction: str) -> None:
        # Whatever of the last reply is still queued would play before the goodbye.
        await self._stop_playback()
        await self.engine.speak(instruction)

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self._finish(Outcome.FALLBACK)

    def _finish(self, outcome: Outcome) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self._cancel_timers()
        if self._twilio is not None:
            self._spawn(self._twilio.close())

    # --- timers -------------------------------------------------------------------

    def _sleeper_active(self) -> None:
        self._nudges = 0
        self._cancel_timer("silence")

    def _arm_silence(self) -> None:
        if not self._ending and self.outcome is None:
            self._timer("silence", SILENCE_NUDGE_SECONDS, self._silent)

    def _silent(self) -> None:
        self._nudges += 1
        if self._nudges > MAX_NUDGES:
            self._end(awake=False, instruction=self.lines.goodbye_not_awake)
        else:
            self._spawn(self.engine.speak(self.lines.nudge))

    def _arm_time_limit(self) -> None:
        started = self.session.answered_at or self.session.created_at
        elapsed = (self._now() - started).total_seconds() * voice_engine.TIME_SCALE
        remaining = max(0.0, self._max_duration.total_seconds() - elapsed)
        self._timer(
            "time_limit",
            remaining,
            lambda: self._end(awake=False, instruction=self.lines.time_up),
        )

    def _timer(self, name: str, seconds: float, job: Callable[[], None]) -> None:
        self._cancel_timer(name)
        self._timers[name] = asyncio.get_running_loop().call_later(
            seconds / voice_engine.TIME_SCALE, job
        )

    def _cancel_timer(self, name: str) -> None:
        if handle := self._timers.pop(name, None):
            handle.cancel()

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # --- tasks --------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            LOGGER.warning("A live-call step failed: %r", err)

    async def aclose(self) -> None:
        """Stop timers and tasks, and end the OpenAI session (gracefully where it has one)."""
        if self.outcome is None:
            self.outcome = Outcome.HUNG_UP
        self._cancel_timers()
        await self.engine.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
