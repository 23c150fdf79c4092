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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from . import twiml
from .call_session import CallSession, TokenUse
from .const import DOMAIN, LOGGER
from .live_call import LiveCall, LiveCallHost
from .realtime_bridge import Outcome, TwilioSocket
from .voice_engine import VoiceEngine

# Twilio opens the stream within a second or two of fetching the TwiML.
STREAM_CONNECT_SECONDS = 8.0
ISSUE_STREAM = "stream_not_connected"


class RealtimeHost(LiveCallHost, Protocol):
    """What a Media Stream call needs from the manager besides any live call's needs."""

    def stream_state(
        self,
        *,
        connected: bool,
        reason: str | None = None,
        session: CallSession | None = None,
    ) -> None:
        """Whether Twilio could open the Media Stream of a call (a repair issue when not)."""


@dataclass(kw_only=True)
class RealtimeCall(LiveCall):
    """One realtime call over a Media Stream: its answers to Twilio, and its bridge."""

    stream_url: Callable[[str], str]
    make_engine: Callable[[], VoiceEngine]
    host: RealtimeHost
    _stream_token: str | None = None
    _stream_claimed: bool = False

    leg_ended_use: ClassVar[TokenUse] = TokenUse.CONNECT

    def _answer(self) -> str:
        token = self.session.issue_token(TokenUse.STREAM)
        self._stream_token = token
        bridge = self._new_bridge(self.make_engine(), token)
        self.host.spawn(bridge.open(), "open OpenAI session")
        self._start_watchdog(STREAM_CONNECT_SECONDS, self._stream_late)
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

    def _leg_ended(self, form: Mapping[str, str]) -> str:
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
        self._resume_turn_based()

    def _go_turn_based(self, reason: str) -> None:
        super()._go_turn_based(reason)
        if self.bridge is not None:
            self.host.spawn(self.bridge.aclose(), "close OpenAI session")


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
