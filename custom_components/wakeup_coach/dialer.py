"""Twilio's side of a call: create it without ever ringing twice, and hang it up.

A create request that fails ambiguously (a timeout, a 5xx) may have placed the
call all the same. Before trying again, the dialer waits briefly for the call's
status callbacks, then asks Twilio for calls to the sleeper placed since; only
when neither shows the call is another attempt made.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta

from .call_session import CallSession
from .const import LOGGER
from .twilio_rest import TwilioConnectionError, TwilioError, TwilioRestClient

# Waits between attempts when Twilio has a transient failure (5xx, 429, timeout).
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
# After an ambiguous failure to create a call, how long to wait for its status callbacks.
CREATE_CONFIRM_SECONDS = 3.0
# Twilio's clock and ours may disagree a little about when the call was created.
CLOCK_SKEW = timedelta(seconds=30)
LIVE_STATUSES = {"queued", "initiated", "ringing", "in-progress"}


class DialStoppedError(Exception):
    """The call was hung up, or its entry unloaded, before Twilio took it."""


class Dialer:
    """Places and hangs up calls for one Twilio account."""

    def __init__(self, twilio: TwilioRestClient) -> None:
        """Nothing is sent until a call is placed."""
        self.twilio = twilio
        # Per call id: set to cut a wait between two attempts short.
        self._stop: dict[str, asyncio.Event] = {}
        # Per call id: set when a callback names the call during an ambiguous wait.
        self._named: dict[str, asyncio.Event] = {}

    async def create(self, session: CallSession, form: list[tuple[str, str]]) -> str:
        """Create the call and return its SID, retrying only where that cannot ring twice."""
        # Made before the first attempt, so a hang-up at any point cuts the next wait short.
        stop = self._stop.setdefault(session.call_id, asyncio.Event())
        try:
            for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
                if session.call_sid:
                    # A late status callback named the call: Twilio did place it.
                    return session.call_sid
                if not session.active or session.hang_up_requested:
                    # Unloaded or hung up while waiting to retry: ring nobody.
                    raise DialStoppedError
                try:
                    return await self.twilio.async_create_call(form)
                except TwilioConnectionError as err:
                    if err.reached and (
                        sid := await self._placed_anyway(session, form)
                    ):
                        LOGGER.warning("Twilio reported %s but placed the call", err)
                        return sid
                    if delay is None:
                        # A warning: the action raises the error, or it is logged if
                        # nobody awaits the action any more.
                        LOGGER.warning(
                            "Twilio did not take the call after %s attempts: %s",
                            attempt,
                            err,
                        )
                        raise
                    LOGGER.warning(
                        "Twilio failed to take the call (%s); retrying in %.0f s",
                        err,
                        delay,
                    )
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
        finally:
            self._stop.pop(session.call_id, None)
        raise AssertionError  # pragma: no cover - the loop always returns or raises

    async def _placed_anyway(
        self, session: CallSession, form: list[tuple[str, str]]
    ) -> str | None:
        """The SID of a call an ambiguous failure placed after all, if any."""
        named = self._named.setdefault(session.call_id, asyncio.Event())
        try:
            if session.call_sid is None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(named.wait(), CREATE_CONFIRM_SECONDS)
        finally:
            self._named.pop(session.call_id, None)
        if session.call_sid:
            return session.call_sid
        fields = dict(form)
        try:
            calls = await self.twilio.async_find_calls(
                to=fields["To"],
                from_=fields["From"],
                since=session.created_at - CLOCK_SKEW,
            )
        except TwilioError as err:
            # Unknown either way: a retry may ring twice, no retry may ring nobody.
            # A second call is hung up as soon as Twilio names it, so retry.
            LOGGER.warning("Could not ask Twilio whether the call exists: %s", err)
            return None
        live = [sid for sid, status, _ in calls if status in LIVE_STATUSES]
        return live[0] if live else None

    def named(self, session: CallSession) -> None:
        """A callback named the call: no further attempt is needed."""
        if event := self._named.get(session.call_id):
            event.set()
        if event := self._stop.get(session.call_id):
            event.set()

    def stop(self, session: CallSession) -> None:
        """Cut a wait between attempts short (hung up, or unloading)."""
        if event := self._stop.get(session.call_id):
            event.set()

    def stop_all(self) -> None:
        """Cut every wait short (unloading)."""
        for event in self._stop.values():
            event.set()

    async def hang_up(self, call_sid: str) -> None:
        """End a call; a failure is logged, since there is nobody to tell."""
        try:
            await self.twilio.async_update_call(call_sid, [("Status", "completed")])
        except TwilioError as err:
            LOGGER.warning("Could not hang up a call: %s", err)
