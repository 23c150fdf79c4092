"""Realtime mode: a Media Stream to OpenAI, and the way back to turn-based when it fails.

When Twilio fetches the call's TwiML, the OpenAI session is opened at once (so
the coach speaks first with no gap) and the answer connects a Media Stream to
Home Assistant. What the call needs if that does not work out:
- OpenAI refuses or drops: the bridge closes the stream, Twilio asks the
  <Connect action> URL, and the same call continues turn-based with the
  conversation so far;
- the stream never connects (proxies, port forwarding, missing Upgrade headers):
  after a few seconds the live call is redirected to turn-based through the
  REST API, and a repair issue explains the likely causes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from . import twiml
from .call_session import CallSession, TokenUse, is_machine
from .coach import CoachPolicy, ProofState
from .const import DOMAIN, LOGGER
from .realtime_bridge import Bridge, Outcome, TwilioSocket, lines_for
from .traditional import TraditionalCall
from .voice_engine import VoiceEngine

# Twilio opens the stream within a second or two of fetching the TwiML.
STREAM_CONNECT_SECONDS = 8.0
ISSUE_STREAM = "stream_not_connected"


class RealtimeHost(Protocol):
    """What a realtime call needs from the manager."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a task owned by the entry (cancelled on unload)."""

    def fallback(self, call_session: CallSession, reason: str) -> None:
        """The call continues turn-based: fire the `fallback` event."""

    def stream_state(
        self,
        *,
        connected: bool,
        reason: str | None = None,
        session: CallSession | None = None,
    ) -> None:
        """Whether Twilio could open the Media Stream of a call (a repair issue when not)."""

    async def redirect(self, call_sid: str, url: str) -> None:
        """Send the live call to new TwiML through the REST API."""


@dataclass
class RealtimeCall:
    """One realtime call's answers to Twilio, and its bridge."""

    session: CallSession
    policy: CoachPolicy
    proof: Callable[[], ProofState]
    watch_proof: Callable[[Callable[[], None]], Callable[[], None]]
    turn_based: TraditionalCall
    url: Callable[[TokenUse], str]
    stream_url: Callable[[str], str]
    make_engine: Callable[[], VoiceEngine]
    host: RealtimeHost
    now: Callable[[], datetime]
    max_duration: timedelta
    model_ms: float = 0.0
    bridge: Bridge | None = None
    _stream_token: str | None = None
    _stream_claimed: bool = False
    _watchdog: asyncio.TimerHandle | None = None
    _unwatch: Callable[[], None] | None = None
    _closed: bool = False

    async def twiml(self, use: TokenUse, form: Mapping[str, str]) -> str:
        """The first request connects the stream; after it, turn-based takes over."""
        if use is TokenUse.VOICE:
            return self._answer(form.get("AnsweredBy"))
        if use is TokenUse.CONNECT:
            return self._stream_ended()
        document = await self.turn_based.twiml(use, form)
        self.model_ms = self.turn_based.model_ms
        return document

    def recover(self) -> str:
        """After a bug, keep the sleeper on the line turn-based."""
        return self.turn_based.recover()

    def _answer(self, answered_by: str | None) -> str:
        self.model_ms = 0.0
        session = self.session
        if is_machine(answered_by):
            session.answered_by = answered_by
            session.revoke_tokens()
            return twiml.hang_up()
        session.mark("twiml_served", self.now())
        token = session.issue_token(TokenUse.STREAM)
        self._stream_token = token
        self.bridge = Bridge(
            engine=self.make_engine(),
            session=session,
            policy=self.policy,
            proof=self.proof,
            lines=lines_for(session.sleeper.name, self.policy.phrases.language_name),
            now=self.now,
            max_duration=self.max_duration,
            stream_token=token,
        )
        self._unwatch = self.watch_proof(self.bridge.proof_arrived)
        self.host.spawn(self.bridge.open(), "open OpenAI session")
        self._watchdog = asyncio.get_running_loop().call_later(
            STREAM_CONNECT_SECONDS, self._stream_late
        )
        return twiml.connect_stream(
            self.stream_url(token),
            action=self.url(TokenUse.CONNECT),
            parameters={"token": token},
        )

    # --- the stream ---------------------------------------------------------------

    def claim_stream(self, token: str) -> bool:
        """The stream URL works once, for the token this call gave Twilio."""
        if self._stream_claimed or self._closed or token != self._stream_token:
            return False
        if not self.session.redeem_token(TokenUse.STREAM, token):
            return False
        self._stream_claimed = True
        self._cancel_watchdog()
        return True

    async def stream(self, socket: TwilioSocket) -> None:
        """Carry the Media Stream until either side ends it."""
        assert self.bridge is not None  # noqa: S101 - claimed only after the answer
        self.session.mark("stream_connected", self.now())
        self.host.stream_state(connected=True, session=self.session)
        outcome = await self.bridge.run(socket)
        LOGGER.debug(
            "The Media Stream of the call to %s ended: %s",
            self.session.sleeper.name,
            outcome,
        )
        if outcome is not Outcome.FALLBACK:
            # Hung up, or the coach ended the call: the OpenAI session is done.
            self.host.spawn(self.bridge.aclose(), "close OpenAI session")

    def _stream_ended(self) -> str:
        """Twilio's <Connect action>: the stream is over; hang up, or go on turn-based."""
        self._cancel_watchdog()
        bridge = self.bridge
        if bridge is not None and bridge.outcome is Outcome.ENDED:
            self.session.revoke_tokens()
            return twiml.hang_up()
        if bridge is None or not self._stream_claimed:
            reason = "stream_failed"
            # Twilio gave up on the WebSocket (a refused upgrade, a proxy, TLS).
            self.host.stream_state(connected=False, reason=reason, session=self.session)
        else:
            reason = bridge.failure or "stream_ended"
        self._go_turn_based(reason)
        return self.turn_based.resume()

    def _stream_late(self) -> None:
        """The stream never connected: carry on turn-based through the REST API."""
        self._watchdog = None
        session = self.session
        if self._stream_claimed or not session.active or self._closed:
            return
        LOGGER.warning(
            "Twilio did not open the Media Stream of the call to %s within %.0f s",
            session.sleeper.name,
            STREAM_CONNECT_SECONDS,
        )
        self.host.stream_state(
            connected=False, reason="stream_never_connected", session=session
        )
        self._go_turn_based("stream_never_connected")
        self._stream_token = None  # a late upgrade finds nothing to connect to
        if session.call_sid:
            url = self.url(TokenUse.RESUME)
            self.host.spawn(self.host.redirect(session.call_sid, url), "redirect")

    def _go_turn_based(self, reason: str) -> None:
        if self.session.fallback_reason is None:
            self.session.fallback_reason = reason
            self.host.fallback(self.session, reason)
        if self.bridge is not None:
            self.host.spawn(self.bridge.aclose(), "close OpenAI session")

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def aclose(self) -> None:
        """The call has ended or its entry unloads: close the OpenAI session."""
        self._closed = True
        self._cancel_watchdog()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.bridge is not None:
            await self.bridge.aclose()


def async_stream_issue(
    hass: HomeAssistant, entry_id: str, *, connected: bool, reason: str | None
) -> None:
    """Create the repair issue when Twilio could not open a Media Stream; clear it when it could."""
    issue_id = f"{ISSUE_STREAM}_{entry_id}"
    if connected:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_STREAM,
        translation_placeholders={"reason": reason or "unknown"},
        learn_more_url="https://www.twilio.com/docs/voice/media-streams",
    )
