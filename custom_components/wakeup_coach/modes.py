"""How a call talks to the sleeper: the one small protocol every mode's handler follows.

Turn-based calls answer each of Twilio's TwiML requests with a <Gather>; realtime
calls answer the first with a Media Stream, and continue turn-based when the
stream cannot carry the call. The views and the manager only see this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from .call_session import TokenUse
from .models import CallMode, RealtimeTransport, SleeperSettings

PERCENT = 100


class ModeHandler(Protocol):
    """One call's answers to Twilio's TwiML requests."""

    # Time the last request spent waiting for the model, in ms (for the turn benchmark).
    model_ms: float

    async def twiml(self, use: TokenUse, form: Mapping[str, str]) -> str:
        """The TwiML document for a request to one of the call's single-use URLs."""

    def recover(self) -> str:
        """TwiML that keeps the call going after an unexpected error."""

    async def aclose(self) -> None:
        """The call has ended or its entry unloads: stop everything it runs."""


def choose_mode(
    requested: CallMode, settings: SleeperSettings, draw: Callable[[], float]
) -> CallMode:
    """The mode a call uses: forced, or drawn when realtime calls are allowed.

    `draw` returns a number in [0, 1): a call is live when it is below the
    sleeper's realtime probability.
    """
    if requested is not CallMode.AUTO:
        return requested
    if settings.realtime_allowed and draw() * PERCENT < settings.realtime_probability:
        return CallMode.REALTIME
    return CallMode.TRADITIONAL


def choose_transport(
    option: RealtimeTransport, *, sip_configured: bool, stream_unreachable: bool
) -> RealtimeTransport:
    """How a realtime call's audio travels: forced, or automatic.

    Automatic takes SIP (when it is set up) once Twilio's Media Stream is known
    not to reach Home Assistant: the connectivity self-test failed, or the last
    live call's stream never connected. A forced SIP transport needs SIP set up,
    which the options flow ensures.
    """
    if option is RealtimeTransport.AUTO:
        if sip_configured and stream_unreachable:
            return RealtimeTransport.SIP
        return RealtimeTransport.MEDIA_STREAM
    return option
