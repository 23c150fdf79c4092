"""Placing, following and ending the calls of one config entry.

The manager turns actions into Twilio requests and Twilio's callbacks into state:
sessions, the sleeper's entities, events on the bus. Views find a call by its id
in a registry shared by all entries (ACTIVE_CALLS).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
import random
from typing import Any

from homeassistant.core import HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import openai

from .call_session import CallSession, CallState, TokenUse, is_machine
from .coach import CoachPolicy
from .const import (
    CONF_AUTH_TOKEN,
    CONF_CHAT_MODEL,
    CONF_FROM_NUMBER,
    CONF_MAGIC_WORDS,
    CONF_MAX_CALL_MINUTES,
    CONF_RING_TIMEOUT,
    DEFAULT_CHAT_MODEL,
    DEFAULT_MAGIC_WORDS,
    DEFAULT_MAX_CALL_MINUTES,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    EVENT_CALL,
    LOGGER,
)
from .models import CallMode, CallResult
from .openai_client import async_chat_reply
from .phone import mask_phone
from .phrases import phrases_for
from .public_url import async_check_public_url
from .sleeper import Sleeper
from .traditional import TraditionalCall
from .twilio_rest import (
    TwilioAuthError,
    TwilioConnectionError,
    TwilioError,
    TwilioRestClient,
)
from .verification import ProofTracker

CALL_PATH = "/api/wakeup_coach/call"
# Waits between attempts when Twilio has a transient failure (5xx, 429, timeout).
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
# After an ambiguous failure to create a call, how long to wait for its status callbacks.
CREATE_CONFIRM_SECONDS = 3.0
# The watchdog asks Twilio about a call this long after its longest possible end.
WATCHDOG_MARGIN_SECONDS = 120
FINAL_TWILIO_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
# A chat completion must leave room in Twilio's 15 s webhook timeout.
CHAT_TIMEOUT = 8.0
HISTORY_LENGTH = 20


@dataclass
class ActiveCall:
    """A call in progress, as the views find it."""

    manager: CallManager
    session: CallSession
    handler: TraditionalCall


ACTIVE_CALLS: HassKey[dict[str, ActiveCall]] = HassKey(f"{DOMAIN}_active_calls")


class _DialStoppedError(Exception):
    """The call was hung up, or its entry unloaded, before Twilio took it."""


def _log_unawaited_failure(dial: asyncio.Task[None]) -> None:
    """A dial whose action was cancelled has nobody to raise to: log its failure."""
    if dial.cancelled() or (err := dial.exception()) is None:
        return
    if isinstance(err, HomeAssistantError):
        if err.translation_key != "call_canceled":
            LOGGER.error("The wake-up call could not be placed: %s", err)
    else:
        LOGGER.error("The wake-up call could not be placed", exc_info=err)


def _error(key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


class CallManager:
    """The calls of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry_id: str,
        entry_data: dict[str, Any],
        options: dict[str, Any],
        twilio: TwilioRestClient,
        openai_client: openai.AsyncOpenAI,
        sleepers: dict[str, Sleeper],
        require_https: bool,
    ) -> None:
        """Set up from the entry's configuration; nothing is sent yet."""
        self.hass = hass
        self.entry_id = entry_id
        self.entry_data = entry_data
        self.auth_token: str = entry_data[CONF_AUTH_TOKEN]
        self.from_number: str = entry_data[CONF_FROM_NUMBER]
        self.options = options
        self.twilio = twilio
        self.openai = openai_client
        self.sleepers = sleepers
        self.require_https = require_https
        self.proof = {sid: ProofTracker(hass, s.config) for sid, s in sleepers.items()}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)
        self._tasks: set[asyncio.Task[None]] = set()
        self._dials: set[asyncio.Task[None]] = set()
        # Set to cut a wait between two attempts to place a call short.
        self._stop_dialing: dict[str, asyncio.Event] = {}
        self._when_idle: Callable[[], None] | None = None
        self._watchdogs: dict[str, Callable[[], None]] = {}
        self._sid_known: dict[str, asyncio.Event] = {}

    @property
    def active_calls(self) -> dict[str, ActiveCall]:
        """Every call in progress, of every entry."""
        return self.hass.data.setdefault(ACTIVE_CALLS, {})

    @callback
    def async_start(self) -> list[Callable[[], None]]:
        """Start watching verification entities; returns what stops it."""
        return [tracker.async_start() for tracker in self.proof.values()]

    def _option(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    @staticmethod
    def url(session: CallSession, path: str) -> str:
        """Public URL of one of a call's endpoints, exactly as Twilio gets (and signs) it."""
        return f"{session.public_base}{CALL_PATH}/{session.call_id}/{path}"

    # --- placing a call ---------------------------------------------------------------

    def choose_mode(self, sleeper: Sleeper, mode: CallMode) -> CallMode:
        """The mode a call will use."""
        if mode is CallMode.REALTIME:
            raise _error("not_available_yet", feature="realtime mode")
        if mode is CallMode.AUTO:
            settings = sleeper.settings
            wants_realtime = settings.realtime_allowed and (
                random.random() * 100 < settings.realtime_probability  # noqa: S311 - a coin, not a secret
            )
            if wants_realtime:
                LOGGER.info(
                    "Realtime mode was drawn for %s, but it is not available yet: calling in traditional mode",
                    sleeper.config.name,
                )
        return CallMode.TRADITIONAL

    async def async_place_call(
        self,
        sleeper: Sleeper,
        mode: CallMode = CallMode.AUTO,
        instructions: str | None = None,
    ) -> CallSession:
        """Dial the sleeper; returns once Twilio has accepted the call."""
        if sleeper.call_in_progress:
            raise _error("call_in_progress", sleeper=sleeper.config.name)
        mode = self.choose_mode(sleeper, mode)
        # Also clears the repair issue once a URL has been set.
        base = async_check_public_url(
            self.hass, self.entry_id, require_https=self.require_https
        )
        if base is None:
            self._record_failure(sleeper)
            raise _error("no_public_url")

        session = CallSession(
            sleeper=sleeper.config,
            mode=mode,
            created_at=dt_util.utcnow(),
            public_base=base,
            extra_instructions=instructions,
        )
        handler = self._traditional(session, sleeper)
        self.active_calls[session.call_id] = ActiveCall(self, session, handler)
        sleeper.set_call_in_progress(in_progress=True)
        self._emit(sleeper, "dialing", session)
        voice_url = self.url(session, f"voice/{session.issue_token(TokenUse.VOICE)}")
        form = [
            ("To", sleeper.config.phone_number),
            ("From", self.from_number),
            ("Url", voice_url),
            ("Method", "POST"),
            ("StatusCallback", self.url(session, "status")),
            ("StatusCallbackMethod", "POST"),
            *[
                ("StatusCallbackEvent", e)
                for e in ("initiated", "ringing", "answered", "completed")
            ],
            (
                "Timeout",
                str(int(self._option(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT))),
            ),
            (
                "TimeLimit",
                str(
                    int(self._option(CONF_MAX_CALL_MINUTES, DEFAULT_MAX_CALL_MINUTES))
                    * 60
                ),
            ),
            ("MachineDetection", "Enable"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", self.url(session, "amd")),
            ("AsyncAmdStatusCallbackMethod", "POST"),
        ]
        LOGGER.info(
            "Calling %s (%s) in %s mode",
            sleeper.config.name,
            mask_phone(sleeper.config.phone_number),
            mode,
        )
        # Not a background task: HA cancels those first when it stops, and a cancelled
        # request could leave the phone ringing into a call nobody follows.
        dial = self.hass.async_create_task(
            self._dial(sleeper, session, form), f"{DOMAIN} dial"
        )
        self._dials.add(dial)
        dial.add_done_callback(self._dials.discard)
        try:
            # The action's caller may be cancelled (an automation restarted or timed
            # out) while Twilio takes the call: for the same reason, the dial goes on.
            await asyncio.shield(dial)
        except asyncio.CancelledError:
            dial.add_done_callback(_log_unawaited_failure)
            raise
        return session

    async def _dial(
        self, sleeper: Sleeper, session: CallSession, form: list[tuple[str, str]]
    ) -> None:
        """Have Twilio take the call, then follow it."""
        try:
            sid = await self._create(session, form)
        except BaseException as err:
            # Whatever stopped us (Twilio, cancellation, a bug), nothing may stay "in progress".
            if isinstance(err, TwilioAuthError):
                self._abandon(sleeper, session)
                self.hass.config_entries.async_schedule_reload(self.entry_id)
                raise _error("twilio_auth_failed") from err
            if session.hang_up_requested and isinstance(
                err, (TwilioError, _DialStoppedError)
            ):
                # Hung up before Twilio took the call: there is nothing left to place.
                self._abandon(sleeper, session, CallResult.CANCELED)
                return
            if isinstance(err, _DialStoppedError):
                self._abandon(sleeper, session, CallResult.CANCELED)
                raise _error("call_canceled", sleeper=sleeper.config.name) from None
            self._abandon(sleeper, session)
            if isinstance(err, TwilioError):
                raise _error("call_failed", error=str(err)) from err
            raise
        unloaded = not session.active
        if unloaded or session.hang_up_requested:
            # Unloaded or hung up while Twilio was taking the call: end it now.
            await self._hang_up(sid)
            if unloaded:
                raise _error("call_canceled", sleeper=sleeper.config.name)
        self.note_call_sid(session, sid)
        if session.active:  # its final status may have come while we hung up
            self._arm_watchdog(session)

    async def _create(self, session: CallSession, form: list[tuple[str, str]]) -> str:
        """Create the call, retrying only where that cannot ring the sleeper twice."""
        # Made before the first attempt, so a hang-up at any point cuts the next wait short.
        stop = self._stop_dialing.setdefault(session.call_id, asyncio.Event())
        try:
            for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
                if session.call_sid:
                    # A late status callback named the call: Twilio did place it.
                    return session.call_sid
                if not session.active or session.hang_up_requested:
                    # Unloaded or hung up while waiting to retry: ring nobody.
                    raise _DialStoppedError
                try:
                    return await self.twilio.async_create_call(form)
                except TwilioConnectionError as err:
                    # A timeout or a 5xx may come after Twilio placed the call: if its
                    # status callbacks arrive, the call exists and must not be placed again.
                    if err.reached and (sid := await self._sign_of_life(session)):
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
            self._stop_dialing.pop(session.call_id, None)
        raise AssertionError  # pragma: no cover - the loop always returns or raises

    async def _sign_of_life(self, session: CallSession) -> str | None:
        """The CallSid, if a status callback for this call arrives soon."""
        known = self._sid_known.setdefault(session.call_id, asyncio.Event())
        if session.call_sid is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(known.wait(), CREATE_CONFIRM_SECONDS)
        self._sid_known.pop(session.call_id, None)
        return session.call_sid

    def note_call_sid(self, session: CallSession, call_sid: str | None) -> None:
        """Twilio told us the call's SID (in any callback or TwiML request)."""
        if session.call_sid is None and call_sid:
            session.call_sid = call_sid
            if known := self._sid_known.get(session.call_id):
                known.set()
            if stop := self._stop_dialing.get(session.call_id):
                stop.set()  # no retry: Twilio placed the call

    def _abandon(
        self,
        sleeper: Sleeper,
        session: CallSession,
        result: CallResult = CallResult.FAILED,
    ) -> None:
        """A call that was not placed: end it, once."""
        self.active_calls.pop(session.call_id, None)
        if session.active:
            session.end(result, dt_util.utcnow())
            self._finish(sleeper, session)

    def _arm_watchdog(self, session: CallSession) -> None:
        """Twilio does not resend a lost status callback: ask it after the longest call."""
        ring = int(self._option(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT))
        limit = int(self._option(CONF_MAX_CALL_MINUTES, DEFAULT_MAX_CALL_MINUTES)) * 60
        self._watchdogs[session.call_id] = async_call_later(
            self.hass,
            ring + limit + WATCHDOG_MARGIN_SECONDS,
            HassJob(partial(self._watchdog_fired, session), cancel_on_shutdown=True),
        )

    @callback
    def _watchdog_fired(self, session: CallSession, _now: Any) -> None:
        self._watchdogs.pop(session.call_id, None)
        if session.active:
            self._spawn(self._expire(session))

    async def _expire(self, session: CallSession) -> None:
        """No final status arrived: take Twilio's word for it, or hang up."""
        LOGGER.warning(
            "No final status arrived for the call to %s; asking Twilio",
            session.sleeper.name,
        )
        status = ""
        if session.call_sid:
            try:
                status = await self.twilio.async_get_call_status(session.call_sid)
            except TwilioError as err:
                LOGGER.warning("Could not ask Twilio about the call: %s", err)
            if status not in FINAL_TWILIO_STATUSES:
                await self._hang_up(session.call_sid)
                status = "completed"
        if self.active_calls.pop(session.call_id, None) is None or not session.active:
            return
        session.apply_status(
            status or "failed", sequence=None, answered_by=None, at=dt_util.utcnow()
        )
        self._finish(self.sleepers[session.sleeper.subentry_id], session)

    def _traditional(self, session: CallSession, sleeper: Sleeper) -> TraditionalCall:
        magic_words = self._option(CONF_MAGIC_WORDS, list(DEFAULT_MAGIC_WORDS)) or list(
            DEFAULT_MAGIC_WORDS
        )
        policy = CoachPolicy(
            sleeper=sleeper.config,
            magic_words=tuple(magic_words),
            phrases=phrases_for(sleeper.config.language),
        )
        tracker = self.proof[sleeper.subentry_id]

        def url(use: TokenUse) -> str:
            return self.url(session, f"{use}/{session.issue_token(use)}")

        return TraditionalCall(
            session=session,
            policy=policy,
            proof=lambda: tracker.state(session.created_at),
            chat=partial(
                async_chat_reply,
                self.openai,
                str(self._option(CONF_CHAT_MODEL, DEFAULT_CHAT_MODEL)),
                time_limit=CHAT_TIMEOUT,
            ),
            url=url,
            now=lambda: dt_util.as_local(dt_util.utcnow()),
            max_duration=timedelta(
                minutes=int(
                    self._option(CONF_MAX_CALL_MINUTES, DEFAULT_MAX_CALL_MINUTES)
                )
            ),
        )

    # --- Twilio's callbacks -------------------------------------------------------------

    def handle_status(self, call: ActiveCall, params: dict[str, str]) -> None:
        """A status callback: move the call on, and finish it when it has ended."""
        session = call.session
        sleeper = self.sleepers[session.sleeper.subentry_id]
        self.note_call_sid(session, params.get("CallSid"))
        try:
            sequence: int | None = int(params["SequenceNumber"])
        except (KeyError, ValueError):
            sequence = None
        was = session.state
        result = session.apply_status(
            params.get("CallStatus", ""),
            sequence=sequence,
            answered_by=params.get("AnsweredBy"),
            at=dt_util.utcnow(),
        )
        if was is not CallState.IN_PROGRESS and session.state is CallState.IN_PROGRESS:
            self._emit(sleeper, "answered", session)
        if result is not None:
            self.active_calls.pop(session.call_id, None)
            self._finish(sleeper, session)

    def handle_amd(self, call: ActiveCall, params: dict[str, str]) -> None:
        """Answering-machine detection: a machine is not a sleeper, so hang up.

        Twilio sends one verdict per call; a replayed one is ignored.
        """
        session = call.session
        if session.amd_verdict is not None:
            LOGGER.debug("Ignored a second machine-detection verdict")
            return
        answered_by = params.get("AnsweredBy", "")
        session.amd_verdict = answered_by
        session.answered_by = answered_by or session.answered_by
        if not is_machine(answered_by):
            return
        call_sid = session.call_sid or params.get("CallSid")
        if not call_sid:
            LOGGER.warning("Voicemail answered, but there is no CallSid to hang up yet")
            return
        LOGGER.info(
            "Voicemail answered the call to %s; hanging up", session.sleeper.name
        )
        session.revoke_tokens()
        self._spawn(self._hang_up(call_sid))

    # --- ending -------------------------------------------------------------------------

    def _finish(self, sleeper: Sleeper, session: CallSession) -> None:
        assert session.result is not None  # noqa: S101
        if cancel_watchdog := self._watchdogs.pop(session.call_id, None):
            cancel_watchdog()
        sleeper.set_call_in_progress(in_progress=False)
        sleeper.record_result(session.result)
        self.history.appendleft(session.summary())
        LOGGER.info("Call to %s ended: %s", sleeper.config.name, session.result)
        LOGGER.debug(
            "Transcript of call %s: %s", session.call_id[:6], session.transcript
        )
        self._emit(sleeper, str(session.result), session)
        if self._when_idle is not None and not self.busy:
            run, self._when_idle = self._when_idle, None
            run()

    @property
    def busy(self) -> bool:
        """A call of this entry is being dialled or is in progress."""
        return any(call.manager is self for call in self.active_calls.values())

    @callback
    def async_when_idle(self, job: Callable[[], None]) -> None:
        """Run `job` once no call of this entry is live (a later job replaces it)."""
        if self.busy:
            self._when_idle = job
        else:
            job()

    def _record_failure(
        self, sleeper: Sleeper, session: CallSession | None = None
    ) -> None:
        sleeper.record_result(CallResult.FAILED)
        self._emit(sleeper, "failed", session)

    async def _hang_up(self, call_sid: str) -> None:
        try:
            await self.twilio.async_update_call(call_sid, [("Status", "completed")])
        except TwilioError as err:
            LOGGER.warning("Could not hang up a call: %s", err)

    def _sessions_of(self, sleeper: Sleeper) -> list[ActiveCall]:
        return [
            call
            for call in self.active_calls.values()
            if call.manager is self
            and call.session.sleeper.subentry_id == sleeper.subentry_id
        ]

    async def async_hang_up(self, sleeper: Sleeper) -> None:
        """End the sleeper's call in progress."""
        calls = self._sessions_of(sleeper)
        if not calls:
            raise _error("no_call_in_progress", sleeper=sleeper.config.name)
        for call in calls:
            call.session.revoke_tokens()
            if not call.session.call_sid:
                # Still dialling: hung up as soon as Twilio names the call.
                call.session.hang_up_requested = True
                if stop := self._stop_dialing.get(call.session.call_id):
                    stop.set()
            else:
                try:
                    await self.twilio.async_update_call(
                        call.session.call_sid, [("Status", "completed")]
                    )
                except TwilioError as err:
                    raise _error("call_failed", error=str(err)) from err

    def confirm_awake(self, sleeper: Sleeper) -> None:
        """Count as proof, as a verification entity would."""
        self.proof[sleeper.subentry_id].confirm()

    def _emit(
        self, sleeper: Sleeper, event_type: str, session: CallSession | None
    ) -> None:
        data = {
            "type": event_type,
            "sleeper": sleeper.config.name,
            "device_id": self._device_id(sleeper),
            "call_id": session.call_id if session else None,
            "mode": session.mode if session else None,
        }
        sleeper.emit(event_type, data)
        self.hass.bus.async_fire(EVENT_CALL, data)

    def _device_id(self, sleeper: Sleeper) -> str | None:
        registry = dr.async_get(self.hass)
        for device in dr.async_entries_for_config_entry(registry, self.entry_id):
            if (DOMAIN, sleeper.subentry_id) in device.identifiers:
                return device.id
        return None

    def _spawn(self, coro: Any) -> None:
        task = self.hass.async_create_background_task(coro, f"{DOMAIN} hang up")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def async_shutdown(self) -> None:
        """The entry is unloading: hang up its calls and stop its tasks."""
        self._when_idle = None
        for call_id, call in list(self.active_calls.items()):
            # Re-checked each time: a status callback may end a call while we await.
            if call.manager is not self or not call.session.active:
                continue
            self.active_calls.pop(call_id, None)
            LOGGER.warning(
                "Hanging up the call to %s: the integration is unloading",
                call.session.sleeper.name,
            )
            call.session.end(CallResult.CANCELED, dt_util.utcnow())
            sleeper = self.sleepers[call.session.sleeper.subentry_id]
            if call.session.call_sid:
                await self._hang_up(call.session.call_sid)
            self._finish(sleeper, call.session)
        # A dial in flight sees its session ended and hangs up what Twilio placed.
        for stop in self._stop_dialing.values():
            stop.set()
        await asyncio.gather(*self._dials, return_exceptions=True)
        for cancel_watchdog in self._watchdogs.values():
            cancel_watchdog()
        self._watchdogs.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
