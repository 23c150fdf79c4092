"""What every live call has, whichever way its audio travels (Media Stream or SIP).

A live call answers Twilio's first request itself and hands every later one to
the turn-based call it carries along, so that it can go on turn-based, with the
conversation so far, at any moment. It screens out answering machines, builds
the bridge that runs the coach over the OpenAI session, waits a few seconds for
its audio path to come up, and when something fails tells the manager once
(the `fallback` event) and moves the call on through Twilio's REST API if Twilio
is not asking anyway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from . import twiml
from .call_session import CallSession, TokenUse, is_machine
from .coach import CoachPolicy, ProofState
from .realtime_bridge import Bridge, lines_for
from .traditional import TraditionalCall
from .voice_engine import VoiceEngine


class LiveCallHost(Protocol):
    """What any live call needs from the manager."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a task owned by the entry (cancelled on unload)."""

    def fallback(self, call_session: CallSession, reason: str) -> None:
        """The call continues turn-based: fire the `fallback` event."""

    async def redirect(self, call_sid: str, url: str) -> None:
        """Send the live call to new TwiML through the REST API."""


@dataclass(kw_only=True)
class LiveCall(ABC):
    """The part of a live call that does not depend on its audio path."""

    session: CallSession
    policy: CoachPolicy
    proof: Callable[[], ProofState]
    watch_proof: Callable[[Callable[[], None]], Callable[[], None]]
    turn_based: TraditionalCall
    url: Callable[[TokenUse], str]
    host: LiveCallHost
    now: Callable[[], datetime]
    max_duration: timedelta
    model_ms: float = 0.0
    bridge: Bridge | None = None
    _watchdog: asyncio.TimerHandle | None = None
    _unwatch: Callable[[], None] | None = None
    _closed: bool = False

    # Twilio's request once the live leg is over (<Connect action>, <Dial action>).
    leg_ended_use: ClassVar[TokenUse]

    async def twiml(self, use: TokenUse, form: Mapping[str, str]) -> str:
        """The first request starts the live leg; after it, turn-based takes over."""
        if use is TokenUse.VOICE:
            self.model_ms = 0.0
            if is_machine(answered_by := form.get("AnsweredBy")):
                self.session.answered_by = answered_by
                self.session.revoke_tokens()
                return twiml.hang_up()
            self.session.mark("twiml_served", self.now())
            return self._answer()
        if use is self.leg_ended_use:
            return self._leg_ended(form)
        document = await self.turn_based.twiml(use, form)
        self.model_ms = self.turn_based.model_ms
        return document

    def recover(self) -> str:
        """After a bug, keep the sleeper on the line turn-based."""
        return self.turn_based.recover()

    @abstractmethod
    def _answer(self) -> str:
        """A person answered: the TwiML that starts the live leg."""

    @abstractmethod
    def _leg_ended(self, form: Mapping[str, str]) -> str:
        """Twilio asks what comes after the live leg: hang up, or go on turn-based."""

    def _new_bridge(self, engine: VoiceEngine, token: str) -> Bridge:
        """The bridge over `engine`, watching for proof of being up."""
        session = self.session
        bridge = Bridge(
            engine=engine,
            session=session,
            policy=self.policy,
            proof=self.proof,
            lines=lines_for(session.sleeper.name, self.policy.phrases.language_name),
            now=self.now,
            max_duration=self.max_duration,
            stream_token=token,
        )
        self.bridge = bridge
        self._unwatch = self.watch_proof(bridge.proof_arrived)
        return bridge

    # --- when the live leg does not come up, or fails -------------------------------

    def _start_watchdog(self, seconds: float, late: Callable[[], None]) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(seconds, late)

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _go_turn_based(self, reason: str) -> None:
        """Record why the call goes on turn-based, once, and fire the event."""
        if self.session.fallback_reason is None:
            self.session.fallback_reason = reason
            self.host.fallback(self.session, reason)

    def _resume_turn_based(self) -> None:
        """Twilio is not asking: move the call on to turn-based through the REST API."""
        if call_sid := self.session.call_sid:
            url = self.url(TokenUse.RESUME)
            self.host.spawn(self.host.redirect(call_sid, url), "redirect")

    async def aclose(self) -> None:
        """The call has ended or its entry unloads: close the OpenAI session."""
        self._closed = True
        self._cancel_watchdog()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.bridge is not None:
            await self.bridge.aclose()
