"""The bridge on its own: a scripted engine and a scripted Twilio socket, no network.

The whole-call scenarios are in test_realtime_calls.py; these pin the bridge's
own rules where a simulator cannot make the case happen on demand.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
from typing import Any

import orjson
import pytest

from custom_components.wakeup_coach import voice_engine
from custom_components.wakeup_coach.call_session import CallSession
from custom_components.wakeup_coach.coach import CoachPolicy, ProofState
from custom_components.wakeup_coach.const import DEFAULT_MAGIC_WORDS
from custom_components.wakeup_coach.models import CallMode, EngineKind, SleeperConfig
from custom_components.wakeup_coach.phrases import phrases_for
from custom_components.wakeup_coach.realtime_bridge import Bridge, Outcome, lines_for
from custom_components.wakeup_coach.voice_engine import EngineError, EngineListener

TOKEN = "stream-token"
SID = "MZ0001"
ALICE = SleeperConfig(subentry_id="s1", name="Alice", phone_number="+15550100111")


def audio(ms: int) -> str:
    """Base64 μ-law of `ms` milliseconds."""
    return base64.b64encode(b"\xff" * (ms * 8)).decode()


@dataclass
class Engine:
    """Records what the bridge asks; `fail` makes connect fail."""

    client_barge_in: bool = True
    kind: EngineKind = EngineKind.REALTIME
    fail: str | None = None
    listener: EngineListener | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        self.listener = listener
        if self.fail:
            raise EngineError(self.fail)
        self.calls.append(("connect", instructions))

    async def append_audio(self, payload: str) -> None:
        self.calls.append(("append", payload))

    async def speak(self, instruction: str) -> None:
        self.calls.append(("speak", instruction))

    async def advise(
        self, note: str, *, instructions: str | None = None, respond: bool = False
    ) -> None:
        self.calls.append(("advise", (note, respond)))

    async def interrupt(self, item_id: str, audio_end_ms: int) -> None:
        self.calls.append(("interrupt", (item_id, audio_end_ms)))

    async def answer_tool(self, call_id: str, output: str, *, respond: bool) -> None:
        self.calls.append(("tool", (json.loads(output), respond)))

    async def aclose(self) -> None:
        self.closed = True

    def said(self, kind: str) -> list[Any]:
        return [value for what, value in self.calls if what == kind]


class Twilio:
    """Twilio's side: frames fed by the test, what the bridge sent, and close."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed = asyncio.Event()

    async def messages(self) -> AsyncIterator[str | bytes]:
        while (item := await self.inbox.get()) is not None:
            yield item

    async def send(self, data: bytes) -> None:
        self.sent.append(orjson.loads(data))

    async def close(self) -> None:
        self.closed.set()
        await self.inbox.put(None)

    def feed(self, message: dict[str, Any] | str | bytes) -> None:
        self.inbox.put_nowait(
            json.dumps(message) if isinstance(message, dict) else message
        )

    def start(self, token: str = TOKEN) -> None:
        self.feed({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self.feed(
            {
                "event": "start",
                "streamSid": SID,
                "start": {
                    "streamSid": SID,
                    "callSid": "CA1",
                    "customParameters": {"token": token},
                },
            }
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["event"] == name]


@dataclass
class Rig:
    """A bridge with its engine and Twilio socket."""

    bridge: Bridge
    engine: Engine
    twilio: Twilio
    session: CallSession
    proof: list[ProofState]
    run: asyncio.Task[Outcome] | None = None

    async def open_and_run(self) -> None:
        await self.bridge.open()
        self.run = asyncio.create_task(self.bridge.run(self.twilio))
        self.twilio.start()
        await settle()

    async def outcome(self) -> Outcome:
        assert self.run is not None
        async with asyncio.timeout(5):
            return await self.run


async def settle() -> None:
    """Let the bridge handle what is queued (its own tasks included)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def make_rig(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Rig]:
    # The bridge's clocks 1000 times faster: its 8 s silence is 8 ms here.
    monkeypatch.setattr(voice_engine, "TIME_SCALE", 1000.0)
    rigs: list[Rig] = []

    def make(
        *, engine: Engine | None = None, proof_required: bool = True, minutes: int = 10
    ) -> Rig:
        engine = engine or Engine()
        now = datetime.now(UTC)
        session = CallSession(
            sleeper=ALICE,
            mode=CallMode.REALTIME,
            created_at=now,
            public_base="https://ha.example",
        )
        session.call_sid = "CA1"
        proof = [ProofState(required=proof_required, satisfied=False, what=("Motion",))]
        bridge = Bridge(
            engine=engine,  # type: ignore[arg-type]
            session=session,
            policy=CoachPolicy(
                sleeper=ALICE,
                magic_words=DEFAULT_MAGIC_WORDS,
                phrases=phrases_for("en"),
            ),
            proof=lambda: proof[0],
            lines=lines_for("Alice", "English"),
            now=lambda: datetime.now(UTC),
            max_duration=timedelta(minutes=minutes),
            stream_token=TOKEN,
        )
        rig = Rig(bridge, engine, Twilio(), session, proof)
        rigs.append(rig)
        return rig

    return make


async def test_greeting_made_before_the_stream_plays_when_it_starts(
    make_rig: Callable[..., Rig],
) -> None:
    """Audio made before Twilio's `start` is held, then sent in order, with marks."""
    rig = make_rig()
    await rig.bridge.open()
    assert rig.engine.said("speak") == [rig.bridge.lines.greeting]
    await rig.bridge.on_audio(audio(100), "item1")
    await rig.bridge.on_audio(audio(100), "item1")
    rig.bridge.on_coach_said("Good morning, Alice!")
    assert rig.twilio.sent == []
    assert rig.session.transcript == []  # not heard yet
    rig.run = asyncio.create_task(rig.bridge.run(rig.twilio))
    rig.twilio.start()
    await settle()
    assert [m["event"] for m in rig.twilio.sent] == ["media", "mark", "media", "mark"]
    assert [line.text for line in rig.session.transcript] == ["Good morning, Alice!"]
    await rig.twilio.close()
    assert await rig.outcome() is Outcome.HUNG_UP


async def test_a_start_for_another_stream_is_refused(
    make_rig: Callable[..., Rig],
) -> None:
    """A start without this call's token ends the stream; nothing is forwarded."""
    rig = make_rig()
    await rig.bridge.open()
    rig.run = asyncio.create_task(rig.bridge.run(rig.twilio))
    rig.twilio.start(token="another")
    assert await rig.outcome() is Outcome.HUNG_UP
    assert rig.engine.said("append") == []


async def test_barge_in_clears_and_truncates_at_what_was_heard(
    make_rig: Callable[..., Rig],
) -> None:
    """Speech over the coach: clear, then truncate at the audio whose marks came back."""
    rig = make_rig()
    await rig.open_and_run()
    for _ in range(3):
        await rig.bridge.on_audio(audio(100), "item1")
    marks = [m["mark"]["name"] for m in rig.twilio.events("mark")]
    rig.twilio.feed({"event": "mark", "streamSid": SID, "mark": {"name": marks[0]}})
    await settle()
    await rig.bridge.on_speech_started()
    assert rig.twilio.sent[-1] == {"event": "clear", "streamSid": SID}
    assert rig.engine.said("interrupt") == [("item1", 100)]
    # The rest of that reply is not sent any more.
    await rig.bridge.on_audio(audio(100), "item1")
    assert rig.twilio.sent[-1]["event"] == "clear"
    # Speech when nothing is queued interrupts nothing.
    await rig.bridge.on_speech_started()
    assert len(rig.engine.said("interrupt")) == 1
    await rig.twilio.close()
    await rig.outcome()


async def test_goodbye_answered_with_a_tool_call_is_asked_again(
    make_rig: Callable[..., Rig],
) -> None:
    """Asked for a goodbye, the model calls end_call instead: it is asked once more.

    The call ends only once a goodbye was said and has played.
    """
    rig = make_rig(proof_required=False)
    await rig.open_and_run()
    rig.bridge.on_sleeper_said("I'm up, goodbye!")
    await settle()
    assert rig.engine.said("speak")[-1] == rig.bridge.lines.goodbye_awake
    # The goodbye reply: only a tool call, no words.
    rig.bridge.on_coach_speaking()
    rig.bridge.on_tool_call("call1", "end_call", "{}")
    rig.bridge.on_coach_done(prompted=True)
    await settle()
    assert rig.engine.said("tool") == [({"ending": True}, False)]
    assert rig.engine.said("speak").count(rig.bridge.lines.goodbye_awake) == 2
    assert not rig.twilio.events("mark")
    # The second time it speaks.
    rig.bridge.on_coach_speaking()
    rig.bridge.on_coach_said("Have a great day, Alice!")
    rig.bridge.on_coach_done(prompted=True)
    await settle()
    assert rig.twilio.events("mark")[-1]["mark"] == {"name": "end"}
    rig.twilio.feed({"event": "mark", "streamSid": SID, "mark": {"name": "end"}})
    assert await rig.outcome() is Outcome.ENDED
    assert rig.session.awake


async def test_end_call_without_proof_is_refused_once_per_utterance(
    make_rig: Callable[..., Rig],
) -> None:
    """Refused with what is missing, the model is not told again until the sleeper speaks."""
    rig = make_rig()
    await rig.open_and_run()
    rig.bridge.on_tool_call("c1", "end_call", "{}")
    rig.bridge.on_tool_call("c2", "end_call", "{}")
    await settle()
    (first, respond1), (second, respond2) = rig.engine.said("tool")
    assert (first["ending"], respond1) == (False, True)
    assert "Motion" in first["what_to_do"]
    assert (second, respond2) == ({"ending": False}, False)
    rig.bridge.on_sleeper_said("Please let me go")
    rig.bridge.on_tool_call("c3", "end_call", "{}")
    await settle()
    assert rig.engine.said("tool")[-1][1] is True
    # With proof, end_call is granted and the goodbye asked for.
    rig.proof[0] = ProofState(required=True, satisfied=True, what=("Motion",))
    rig.bridge.on_tool_call("c4", "end_call", "{}")
    await settle()
    assert rig.engine.said("tool")[-1] == ({"ending": True}, False)
    assert rig.engine.said("speak")[-1] == rig.bridge.lines.goodbye_awake
    await rig.twilio.close()
    await rig.outcome()


async def test_silence_is_nudged_then_let_go(make_rig: Callable[..., Rig]) -> None:
    """After each reply has played, silence gets a nudge; after the last, a goodbye."""
    rig = make_rig()
    await rig.open_and_run()
    for asked in range(2, 6):  # the greeting, then three nudges and a goodbye
        rig.bridge.on_coach_done(prompted=True)
        await settle()
        rig.twilio.feed({"event": "mark", "streamSid": SID, "mark": {"name": "quiet"}})
        async with asyncio.timeout(5):
            while len(rig.engine.said("speak")) < asked:
                await asyncio.sleep(0.001)
    speak = rig.engine.said("speak")
    assert speak[1:] == [rig.bridge.lines.nudge] * 3 + [
        rig.bridge.lines.goodbye_not_awake
    ]
    assert not rig.session.awake
    await rig.twilio.close()
    await rig.outcome()


async def test_the_sleeper_speaking_resets_the_nudges(
    make_rig: Callable[..., Rig],
) -> None:
    """A word from the sleeper cancels the silence clock."""
    rig = make_rig()
    await rig.open_and_run()
    rig.bridge.on_coach_done(prompted=True)
    await settle()
    rig.twilio.feed({"event": "mark", "streamSid": SID, "mark": {"name": "quiet"}})
    await settle()
    assert "silence" in rig.bridge._timers
    rig.bridge.on_sleeper_speaking()
    assert "silence" not in rig.bridge._timers
    assert rig.engine.said("speak") == [rig.bridge.lines.greeting]
    await rig.twilio.close()
    await rig.outcome()


async def test_time_limit(make_rig: Callable[..., Rig]) -> None:
    """At the longest call, the time-up goodbye; the call is not counted awake."""
    rig = make_rig(minutes=1)
    await rig.open_and_run()
    async with asyncio.timeout(5):
        while rig.bridge.lines.time_up not in rig.engine.said("speak"):
            await asyncio.sleep(0.005)
    await rig.twilio.close()
    await rig.outcome()
    assert not rig.session.awake


async def test_openai_failing_before_the_stream(make_rig: Callable[..., Rig]) -> None:
    """OpenAI refused at the answer: the stream is closed at once, for turn-based."""
    rig = make_rig(engine=Engine(fail="openai_rate_limited"))
    await rig.bridge.open()
    assert rig.bridge.failure == "openai_rate_limited"
    assert await rig.bridge.run(rig.twilio) is Outcome.FALLBACK
    assert rig.twilio.closed.is_set()


async def test_openai_dropping_mid_call(make_rig: Callable[..., Rig]) -> None:
    """OpenAI went away: the bridge closes the stream so Twilio asks <Connect action>."""
    rig = make_rig()
    await rig.open_and_run()
    rig.bridge.on_engine_closed("openai_dropped")
    assert await rig.outcome() is Outcome.FALLBACK
    assert rig.bridge.failure == "openai_dropped"


async def test_proof_reaches_the_model(make_rig: Callable[..., Rig]) -> None:
    """Proof mid-call becomes a note with new instructions, and a reply is invited."""
    rig = make_rig()
    await rig.open_and_run()
    rig.bridge.proof_arrived()
    await settle()
    assert rig.engine.said("advise") == [(rig.bridge.lines.proof_arrived, True)]
    await rig.twilio.close()
    await rig.outcome()


async def test_bad_frames_are_dropped_and_logged_once(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    """Each kind of bad frame: dropped, one warning per kind; good media still flows."""
    rig = make_rig()
    await rig.open_and_run()
    bad: list[Any] = [
        "not json",
        b"\x00binary",
        "[1, 2]",
        {"event": "dance"},
        {"event": "media", "media": {"payload": "!!"}},
        {"event": "media", "media": {"payload": 5}},
        "x" * 20000,
    ]
    for frame in bad * 2:
        rig.twilio.feed(frame)
    rig.twilio.feed({"event": "media", "media": {"payload": audio(20)}})
    await settle()
    assert rig.engine.said("append") == [audio(20)]
    dropped = [r.getMessage() for r in caplog.records if "Dropped" in r.getMessage()]
    assert len(dropped) == len(bad) == len(set(dropped))
    rig.twilio.feed({"event": "stop", "streamSid": SID})
    assert await rig.outcome() is Outcome.HUNG_UP
