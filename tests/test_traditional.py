"""The traditional turn handler on its own: TwiML per request, with a fake model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.wakeup_coach.call_session import CallSession, TokenUse
from custom_components.wakeup_coach.coach import CoachPolicy, ProofState
from custom_components.wakeup_coach.const import DEFAULT_MAGIC_WORDS
from custom_components.wakeup_coach.models import CallMode, SleeperConfig
from custom_components.wakeup_coach.openai_client import ChatUnavailableError
from custom_components.wakeup_coach.phrases import phrases_for
from custom_components.wakeup_coach.traditional import TraditionalCall

START = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
ALICE = SleeperConfig(
    subentry_id="s1",
    name="Alice",
    phone_number="+15550100111",
    language="de-DE",
    voice="Polly.Vicki",
)


class Clock:
    """A settable now()."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def handler(clock: Clock, replies: list[str | Exception]) -> TraditionalCall:
    """A German call whose model answers from `replies`."""
    session = CallSession(
        sleeper=ALICE,
        mode=CallMode.TRADITIONAL,
        created_at=START,
        public_base="https://ha.example",
    )

    async def chat(messages: list[dict[str, str]]) -> str:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return TraditionalCall(
        session=session,
        policy=CoachPolicy(
            sleeper=ALICE, magic_words=DEFAULT_MAGIC_WORDS, phrases=phrases_for("de-DE")
        ),
        proof=lambda: ProofState(required=False, satisfied=False),
        chat=chat,
        url=lambda use: f"https://ha.example/{use}/{session.issue_token(use)}",
        now=clock,
        max_duration=timedelta(minutes=10),
    )


async def test_greeting_in_language_and_voice() -> None:
    """The greeting is German, in the configured voice, inside a speech Gather."""
    call = handler(Clock(), [])
    document = await call.answer("human")
    assert "Guten Morgen, Alice!" in document
    assert 'voice="Polly.Vicki"' in document
    assert 'language="de-DE"' in document
    assert '<Gather action="https://ha.example/speech/' in document
    assert "<Redirect" in document


async def test_machine_is_hung_up_on() -> None:
    """A synchronous machine verdict: hang up without a word."""
    call = handler(Clock(), [])
    assert (
        await call.answer("machine_end_beep")
        == '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
    )
    assert not call.session.transcript


async def test_fallback_then_time_up() -> None:
    """A model failure speaks the fallback; past the longest call, the coach says goodbye."""
    clock = Clock()
    call = handler(clock, [ChatUnavailableError("timeout")])
    await call.answer("human")
    document = await call.speech("Ich bin müde")
    assert "Entschuldige" in document
    assert call.session.fallbacks == 1
    issued = [
        token for token, use in call.session._tokens.items() if use is TokenUse.SPEECH
    ]
    clock.now = START + timedelta(minutes=11)
    document = await call.speech("noch fünf Minuten")
    assert "Unsere Zeit ist um" in document
    assert "<Hangup" in document
    # The goodbye revokes the URLs the earlier turns handed Twilio.
    assert len(issued) == 2
    assert [call.session.redeem_token(TokenUse.SPEECH, t) for t in issued] == [
        False,
        False,
    ]


async def test_silence_over_time_ends() -> None:
    """Silence after the longest call ends it at once."""
    clock = Clock()
    call = handler(clock, [])
    await call.answer("human")
    clock.now = START + timedelta(minutes=11)
    document = await call.silence()
    assert "Ich lasse dich jetzt" in document
