"""Traditional mode: the TwiML answer to each Twilio request of a <Gather> speech call.

Each request gets one document: the coach's line inside a speech <Gather>, or a
goodbye and a hang-up. The model writes the coach's lines from the whole call's
history; when it cannot, a fixed line keeps the call going.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import time

from . import twiml
from .call_session import CallSession, TokenUse, is_machine
from .coach import CoachPolicy, Decision, ProofState
from .const import LOGGER
from .openai_client import ChatUnavailableError
from .phrases import Phrases

ChatFn = Callable[[list[dict[str, str]]], Awaitable[str]]


@dataclass
class TraditionalCall:
    """Turn handler of one call."""

    session: CallSession
    policy: CoachPolicy
    proof: Callable[[], ProofState]
    chat: ChatFn
    url: Callable[[TokenUse], str]
    now: Callable[[], datetime]
    max_duration: timedelta
    # Time the last turn spent waiting for the model, in ms (for the turn benchmark).
    model_ms: float = 0.0

    @property
    def _phrases(self) -> Phrases:
        return self.policy.phrases

    def _turn(self, prompt: str) -> str:
        self.session.say("coach", prompt, self.now())
        sleeper = self.session.sleeper
        return twiml.turn(
            prompt,
            action=self.url(TokenUse.SPEECH),
            on_silence=self.url(TokenUse.SILENCE),
            language=sleeper.language,
            voice=sleeper.voice,
        )

    def _goodbye(self, line: str) -> str:
        self.session.say("coach", line, self.now())
        self.session.revoke_tokens()
        sleeper = self.session.sleeper
        return twiml.say_goodbye(line, language=sleeper.language, voice=sleeper.voice)

    def _over_time(self) -> bool:
        started = self.session.answered_at or self.session.created_at
        return self.now() - started >= self.max_duration

    async def twiml(self, use: TokenUse, form: Mapping[str, str]) -> str:
        """The document for one of the call's TwiML requests."""
        if use is TokenUse.VOICE:
            return await self.answer(form.get("AnsweredBy"))
        if use is TokenUse.RESUME:
            return self.resume()
        if use is TokenUse.SPEECH and (said := form.get("SpeechResult", "").strip()):
            return await self.speech(said)
        return await self.silence()

    async def aclose(self) -> None:
        """Nothing runs between requests."""

    async def answer(self, answered_by: str | None) -> str:
        """The call was answered: greet, or hang up on a machine."""
        self.model_ms = 0.0
        if answered_by:
            self.session.answered_by = answered_by
        if is_machine(answered_by):
            self.session.revoke_tokens()
            return twiml.hang_up()
        name = self.session.sleeper.name
        return self._turn(self._phrases.greeting.format(name=name))

    async def speech(self, text: str) -> str:
        """The sleeper said something."""
        self.model_ms = 0.0
        session = self.session
        session.silences = 0
        session.turns += 1
        session.say("sleeper", text, self.now())
        proof = self.proof()
        decision = self.policy.decide(text, proof)
        if decision is Decision.END_AWAKE:
            session.awake = True
            return self._goodbye(
                self._phrases.goodbye.format(name=session.sleeper.name)
            )
        if self._over_time():
            return self._goodbye(self._phrases.time_up)
        if decision is Decision.PROVE_FIRST:
            fallback = self._phrases.prove_first.format(proof=", ".join(proof.what))
            note = (
                "The sleeper just tried to end the call, but has not proven being up. "
                "Refuse kindly and tell them exactly what to do first."
            )
            return self._turn(await self._reply(proof, fallback, note))
        return self._turn(await self._reply(proof, self._phrases.fallback, None))

    async def silence(self) -> str:
        """A <Gather> heard nothing: ask once more, then give up."""
        self.model_ms = 0.0
        session = self.session
        session.silences += 1
        if session.silences >= 2 or self._over_time():  # noqa: PLR2004 - "are you sleeping?" once
            return self._goodbye(self._phrases.not_awake_goodbye)
        return self._turn(self._phrases.are_you_sleeping)

    def resume(self) -> str:
        """Take over a call that started live: greet, or pick the conversation up."""
        self.model_ms = 0.0
        if not any(line.speaker == "coach" for line in self.session.transcript):
            return self._turn(
                self._phrases.greeting.format(name=self.session.sleeper.name)
            )
        return self._turn(self._phrases.resume)

    def recover(self) -> str:
        """Keep the call going after an unexpected error: a fallback line and listen."""
        return self._turn(self._phrases.fallback)

    async def _reply(self, proof: ProofState, fallback: str, note: str | None) -> str:
        session = self.session
        extra = (
            " ".join(part for part in (session.extra_instructions, note) if part)
            or None
        )
        messages = [
            {
                "role": "system",
                "content": self.policy.instructions(proof, now=self.now(), extra=extra),
            }
        ]
        messages += [
            {
                "role": "assistant" if line.speaker == "coach" else "user",
                "content": line.text,
            }
            for line in session.transcript
        ]
        started = time.perf_counter()
        try:
            return await self.chat(messages)
        except ChatUnavailableError as err:
            session.fallbacks += 1
            LOGGER.warning(
                "The model did not answer (%s); speaking a fallback line", err
            )
            return fallback
        finally:
            self.model_ms = (time.perf_counter() - started) * 1000
