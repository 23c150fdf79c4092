"""Realtime calls over SIP: Twilio dials OpenAI, OpenAI asks Home Assistant, HA steers from outside.

When Twilio fetches the call's TwiML, the answer `<Dial>`s the OpenAI project's SIP
address over TLS, with a one-time token for this call in a custom SIP header.
OpenAI announces the call with a signed webhook (sip_webhook.py); once the token
matches, the call is accepted with the coach's session and steered over a
sideband WebSocket that Home Assistant opens outwards (sideband.py), through the
same bridge and coach policy as a Media Stream call. No audio and no inbound
WebSocket touch Home Assistant. What the call needs when that does not work out:

- OpenAI refuses the SIP call, the accept fails, or the sideband breaks: the SIP
  leg ends, Twilio asks the `<Dial action>` URL, and the same call continues
  turn-based with the conversation so far (unless the coach had finished);
- the webhook never comes (SIP not enabled for the project, a wrong project ID,
  no webhook configured, a wrong secret): after a few seconds the call is
  redirected to turn-based through the REST API, and a repair issue names the
  likely cause.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
import hmac
from http import HTTPStatus
import secrets
import time
from typing import Any, ClassVar, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from . import twiml
from .call_session import TokenUse, UnknownTokenError
from .const import DOMAIN, LOGGER
from .live_call import LiveCall, LiveCallHost
from .models import EngineKind
from .openai_sip import (
    IncomingCall,
    SipControl,
    SipControlError,
    live_session,
    realtime_session,
)
from .realtime_bridge import Outcome
from .sideband import SidebandLine
from .voice_engine import VoiceEngine

# OpenAI announces a call within a second or two of Twilio dialling it.
SIP_ARRIVE_SECONDS = 8.0
ISSUE_SIP = "sip_not_connected"
# What the repair issue says is the likely cause (each a translation key).
CAUSE_NO_WEBHOOK = "sip_no_webhook"
CAUSE_WRONG_SECRET = "sip_wrong_secret"  # noqa: S105 - a translation key
CAUSE_CLOCK = "sip_clock_skew"
CAUSE_REFUSED = "sip_refused"
CAUSE_LIVE_NOT_ENABLED = "sip_live_not_enabled"
CAUSE_ACCEPT_FAILED = "sip_accept_failed"


class Claim(Enum):
    """What an announced call carrying this call's token means for it."""

    TAKE = "take"  # ours: accept it
    OTHER_ENGINE = "other_engine"  # the same call, announced for the other protocol
    DUPLICATE = "duplicate"  # the call taken already, announced again
    SPENT = "spent"  # another call with a token already used, or a call that is over


class SipHost(LiveCallHost, Protocol):
    """What a SIP call needs from the manager besides any live call's needs."""

    def sip_state(self, *, connected: bool, cause: str = "", detail: str = "") -> None:
        """Whether SIP calls reach Home Assistant (a repair issue when not)."""

    def webhook_trouble(self, since: float) -> str | None:
        """Why webhooks were refused since `since` (monotonic), if any were."""

    def hang_up_later(self, call_sid: str, reason: str) -> None:
        """Hang up a call through Twilio's REST API, in the background."""


@dataclass(kw_only=True)
class SipCall(LiveCall):
    """One SIP call's answers to Twilio, its answer to OpenAI, and its bridge."""

    engine: EngineKind
    sip_address: Callable[[str], str]
    make_sideband: Callable[[IncomingCall], VoiceEngine]
    control: SipControl
    host: SipHost
    dial_time_limit: int
    incoming_call: IncomingCall | None = None
    failure: str | None = None
    _token: str | None = None
    _claimed: bool = False
    _served_at: float = 0.0
    _other_engine_seen: bool = False
    _line: SidebandLine | None = None

    # The <Dial action>: the SIP leg is over.
    leg_ended_use: ClassVar[TokenUse] = TokenUse.DIAL

    def _answer(self) -> str:
        self._token = self.session.issue_token(TokenUse.SIP)
        self._served_at = time.monotonic()
        self._start_watchdog(SIP_ARRIVE_SECONDS, self._sip_late)
        return twiml.dial_sip(
            self.sip_address(self._token),
            action=self.url(TokenUse.DIAL),
            time_limit=self.dial_time_limit,
        )

    # --- OpenAI announces the call -------------------------------------------------

    def owns(self, token: str) -> bool:
        """Whether `token` is the one this call put in its SIP header (compared in constant time)."""
        mine = self._token
        return mine is not None and hmac.compare_digest(mine, token)

    def claim(self, call: IncomingCall) -> Claim:
        """An announced call with this call's token: take it once, on the call's own protocol."""
        if call.engine is not self.engine:
            self._other_engine_seen = True
            return Claim.OTHER_ENGINE
        taken = self.incoming_call
        if taken is not None and call.call_id == taken.call_id:
            return Claim.DUPLICATE
        token = self._token
        if self._claimed or self._closed or token is None or not self.session.active:
            return Claim.SPENT
        try:
            if not self.session.redeem_token(TokenUse.SIP, token):
                return Claim.SPENT
        except UnknownTokenError:
            return Claim.SPENT  # spent with the call's other tokens (it is ending)
        self._claimed = True
        self.incoming_call = call
        self._cancel_watchdog()
        return Claim.TAKE

    async def incoming(self, call: IncomingCall) -> None:
        """Accept the claimed call, then run the bridge over its sideband until it ends."""
        session = self.session
        session.mark("sip_incoming", self.now())
        instructions = self.policy.instructions(
            self.proof(), now=self.now(), extra=session.extra_instructions
        )
        try:
            await self.control.accept(call, self._session_config(instructions))
        except SipControlError as err:
            LOGGER.warning("OpenAI did not let the SIP call be accepted: %s", err)
            self.failure = err.reason
            self.host.sip_state(
                connected=False, cause=CAUSE_ACCEPT_FAILED, detail=err.reason
            )
            # Ends the leg now instead of when OpenAI stops ringing; the <Dial action>
            # then carries the call on turn-based.
            await self._refuse(call)
            return
        session.mark("sip_accepted", self.now())
        self.host.sip_state(connected=True)
        if self._closed:
            await self._hang_up_leg(call, Outcome.HUNG_UP)
            return
        line_token = secrets.token_urlsafe(16)
        bridge = self._new_bridge(self.make_sideband(call), line_token)
        self._line = line = SidebandLine(token=line_token, call_sid=session.call_sid)
        self.host.spawn(bridge.open(), "open OpenAI sideband")
        outcome = await bridge.run(line)
        LOGGER.debug(
            "The SIP call to %s ended on the sideband: %s",
            session.sleeper.name,
            outcome,
        )
        # The sideband closes first (GPT-Live confirms its usage on the way out);
        # then the leg ends, and Twilio asks the <Dial action> what comes next.
        await bridge.aclose()
        if outcome is not Outcome.HUNG_UP:
            await self._hang_up_leg(call, outcome)

    def _session_config(self, instructions: str) -> dict[str, Any]:
        session = self.session
        sleeper = session.sleeper
        assert session.model is not None  # noqa: S101 - set for every realtime call
        if self.engine is EngineKind.LIVE:
            return live_session(
                model=session.model,
                voice=sleeper.realtime_voice,
                instructions=instructions,
            )
        return realtime_session(
            model=session.model,
            voice=sleeper.realtime_voice,
            language=sleeper.language,
            instructions=instructions,
        )

    async def _refuse(self, call: IncomingCall) -> None:
        try:
            await self.control.reject(call)
        except SipControlError as err:
            LOGGER.debug("Could not reject the SIP call either: %s", err)

    async def _hang_up_leg(self, call: IncomingCall, outcome: Outcome) -> None:
        """End the SIP leg; Twilio then asks the <Dial action> what comes next."""
        try:
            await self.control.hangup(call)
        except SipControlError as err:
            if err.status == HTTPStatus.NOT_FOUND:
                return  # already over (GPT-Live ends the call when its session closes)
            LOGGER.warning("OpenAI did not hang up the SIP call: %s", err)
        else:
            return
        # Without OpenAI's hang-up, Twilio ends the leg: the whole call at the end,
        # or the leg by moving the call on to turn-based.
        call_sid = self.session.call_sid
        if call_sid is None or not self.session.active:
            return
        if outcome is Outcome.FALLBACK and self.bridge is not None:
            self._go_turn_based(self.bridge.failure or "sip_ended")
            self._resume_turn_based()
        else:
            self.host.hang_up_later(call_sid, "the coach finished the SIP call")

    # --- Twilio's side ---------------------------------------------------------------

    def _leg_ended(self, form: Mapping[str, str]) -> str:
        """The <Dial action>: the SIP leg is over; hang up, or go on turn-based."""
        self._cancel_watchdog()
        bridge = self.bridge
        if (bridge is not None and bridge.outcome is Outcome.ENDED) or form.get(
            "CallStatus"
        ) == "completed":
            # The coach finished, or the sleeper hung up during the SIP leg.
            self.session.revoke_tokens()
            return twiml.hang_up()
        if bridge is not None:
            reason = bridge.failure or "sip_ended"
        elif self.failure is not None:
            reason = self.failure
        else:
            # OpenAI never took the call: the SIP INVITE itself failed.
            status = form.get("DialCallStatus") or "failed"
            code = form.get("DialSipResponseCode") or "none"
            reason = f"sip_{status}_{code}".replace("-", "_")
            self.host.sip_state(connected=False, cause=CAUSE_REFUSED, detail=code)
        self._go_turn_based(reason)
        return self.turn_based.resume()

    def _sip_late(self) -> None:
        """OpenAI never announced the call: carry on turn-based through the REST API."""
        self._watchdog = None
        session = self.session
        if self._claimed or not session.active or self._closed:
            return
        cause = self.host.webhook_trouble(self._served_at) or (
            CAUSE_LIVE_NOT_ENABLED if self._other_engine_seen else CAUSE_NO_WEBHOOK
        )
        LOGGER.warning(
            "OpenAI did not announce the SIP call to %s within %.0f s (%s)",
            session.sleeper.name,
            SIP_ARRIVE_SECONDS,
            cause,
        )
        self.host.sip_state(connected=False, cause=cause)
        self._token = None  # a late announcement finds nothing to accept
        self._go_turn_based(cause)
        self._resume_turn_based()

    async def aclose(self) -> None:
        """The call has ended or its entry unloads: close the sideband."""
        self._closed = True
        if self._line is not None:
            self._line.stop()
        await super().aclose()


def async_sip_issue(
    hass: HomeAssistant,
    entry_id: str,
    *,
    connected: bool,
    cause: str = "",
    detail: str = "",
) -> None:
    """Create the repair issue naming why SIP calls do not reach HA; clear it when one does."""
    issue_id = f"{ISSUE_SIP}_{entry_id}"
    if connected:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=cause or CAUSE_NO_WEBHOOK,
        translation_placeholders={"detail": detail or "-"},
        learn_more_url="https://platform.openai.com/docs/guides/realtime-sip",
    )
