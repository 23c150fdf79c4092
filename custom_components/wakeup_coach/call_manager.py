"""Placing, following and ending the calls of one config entry.

The manager turns actions into calls and what happens on a call into state: the
sleeper's entities, events on the bus, the call history. Twilio's side of
dialling is the dialer's; what the sleeper hears is the mode handler's; the
views talk to each Call directly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from datetime import timedelta
from functools import partial
import random
import time
from typing import Any

from homeassistant.core import HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import openai

from .call import Call, CallRegistry, call_url, stream_url
from .call_session import CallSession, TokenUse
from .coach import CoachPolicy
from .const import (
    CONF_AUTH_TOKEN,
    CONF_CHAT_MODEL,
    CONF_FROM_NUMBER,
    CONF_LIVE_MODEL,
    CONF_MAGIC_WORDS,
    CONF_MAX_CALL_MINUTES,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_ENGINE,
    CONF_REALTIME_MODEL,
    CONF_REALTIME_TRANSPORT,
    CONF_RING_TIMEOUT,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DEFAULT_CHAT_MODEL,
    DEFAULT_LIVE_MODEL,
    DEFAULT_MAGIC_WORDS,
    DEFAULT_MAX_CALL_MINUTES,
    DEFAULT_OPENAI_BASE_URL,
    DEFAULT_REALTIME_MODEL,
    DEFAULT_RING_TIMEOUT,
    DOMAIN,
    EVENT_CALL,
    LOGGER,
)
from .dialer import Dialer, DialStoppedError
from .models import (
    CallMode,
    CallResult,
    CallTrigger,
    EngineKind,
    RealtimeTransport,
    TriggerKind,
)
from .modes import ModeHandler, choose_mode, choose_transport
from .openai_client import ChatUnavailableError, async_chat_reply
from .openai_sip import IncomingCall, SipControl, sip_uri
from .phone import mask_phone
from .phrases import phrases_for
from .public_url import async_check_public_url
from .realtime import ISSUE_STREAM, RealtimeCall, async_stream_issue
from .sideband import make_sideband
from .sip_call import CAUSE_CLOCK, CAUSE_WRONG_SECRET, SipCall, async_sip_issue
from .sleeper import Sleeper
from .traditional import TraditionalCall
from .twilio_rest import TwilioAuthError, TwilioError, TwilioRestClient
from .verification import ProofTracker
from .voice_engine import VoiceEngine, make_engine

# The watchdog asks Twilio about a call this long after its longest possible end.
WATCHDOG_MARGIN_SECONDS = 120
# Twilio's own limit lies this far beyond the coach's, so the coach's "time is up"
# goodbye is heard before Twilio cuts the line.
TIME_LIMIT_MARGIN_SECONDS = 60
FINAL_TWILIO_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
# A chat completion must leave room in Twilio's 15 s webhook timeout.
CHAT_TIMEOUT = 8.0
HISTORY_LENGTH = 20
# Refused webhooks that suggest a cause when a SIP call is not announced.
WEBHOOK_TROUBLE = {
    "bad_signature": CAUSE_WRONG_SECRET,
    "stale_timestamp": CAUSE_CLOCK,
}

CALLS: HassKey[CallRegistry] = HassKey(f"{DOMAIN}_calls")


def call_registry(hass: HomeAssistant) -> CallRegistry:
    """The calls of every entry, as the views find them."""
    return hass.data.setdefault(CALLS, CallRegistry())


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
        self.dialer = Dialer(twilio)
        self.openai = openai_client
        self.sleepers = sleepers
        self.require_https = require_https
        self.proof = {sid: ProofTracker(hass, s.config) for sid, s in sleepers.items()}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dials: set[asyncio.Task[None]] = set()
        self._when_idle: Callable[[], None] | None = None
        self._watchdogs: dict[str, Callable[[], None]] = {}
        # The last refused OpenAI webhook: (likely cause, when).
        self._webhook_trouble: tuple[str, float] | None = None
        # Told about every call that ended (the alarm scheduler redials).
        self.finished_listeners: list[Callable[[CallSession], None]] = []
        # Asked before a live call: why it must go turn-based (the connectivity
        # self-test fails), as extra data for its `dialing` event; None if it need not.
        self.preflight: Callable[[], Awaitable[dict[str, str] | None]] | None = None
        # Told whether Twilio could open a live call's Media Stream.
        self.stream_listeners: list[
            Callable[[CallSession | None, bool, str | None], None]
        ] = []
        # Told when Twilio or OpenAI refuse the entry's credentials ("twilio", "openai").
        self.credentials_listeners: list[Callable[[str], None]] = []

    @property
    def registry(self) -> CallRegistry:
        """Every call of every entry."""
        return call_registry(self.hass)

    @callback
    def async_start(self) -> list[Callable[[], None]]:
        """Start watching verification entities; returns what stops it."""
        return [tracker.async_start() for tracker in self.proof.values()]

    def _option(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    @property
    def max_call(self) -> timedelta:
        """The coach's longest call."""
        return timedelta(
            minutes=int(self._option(CONF_MAX_CALL_MINUTES, DEFAULT_MAX_CALL_MINUTES))
        )

    def calls_of(self, sleeper: Sleeper | None = None) -> list[Call]:
        """The entry's calls not ended yet (of one sleeper)."""
        return [
            call
            for call in self.registry.live()
            if call.host is self
            and (
                sleeper is None
                or call.session.sleeper.subentry_id == sleeper.subentry_id
            )
        ]

    # --- placing a call ---------------------------------------------------------------

    def choose_engine(self, engine: EngineKind | None) -> tuple[EngineKind, str]:
        """The engine and model a realtime call uses: forced, or the entry's option."""
        engine = engine or EngineKind(
            self._option(CONF_REALTIME_ENGINE, EngineKind.REALTIME)
        )
        if engine is EngineKind.LIVE:
            return engine, str(self._option(CONF_LIVE_MODEL, DEFAULT_LIVE_MODEL))
        return engine, str(self._option(CONF_REALTIME_MODEL, DEFAULT_REALTIME_MODEL))

    @property
    def sip_configured(self) -> bool:
        """Whether realtime calls can go over SIP (project, secret and webhook set up)."""
        return all(
            self.options.get(key)
            for key in (
                CONF_OPENAI_PROJECT_ID,
                CONF_WEBHOOK_SECRET,
                CONF_SIP_WEBHOOK_ID,
            )
        )

    def stream_unreachable(self) -> bool:
        """Whether Twilio's Media Stream is known not to reach HA (its repair issue is up)."""
        issue_id = f"{ISSUE_STREAM}_{self.entry_id}"
        return ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id) is not None

    def choose_transport(
        self, transport: RealtimeTransport | None = None
    ) -> RealtimeTransport:
        """How a realtime call's audio travels: forced, or the entry's option."""
        option = transport or RealtimeTransport(
            self._option(CONF_REALTIME_TRANSPORT, RealtimeTransport.MEDIA_STREAM)
        )
        if option is RealtimeTransport.SIP and not self.sip_configured:
            raise _error("sip_not_configured")
        return choose_transport(
            option,
            sip_configured=self.sip_configured,
            stream_unreachable=self.stream_unreachable(),
        )

    def _sip_may_replace_stream(self, transport: RealtimeTransport | None) -> bool:
        """Whether a call that cannot get a Media Stream may go over SIP (automatic)."""
        option = transport or RealtimeTransport(
            self._option(CONF_REALTIME_TRANSPORT, RealtimeTransport.MEDIA_STREAM)
        )
        return option is RealtimeTransport.AUTO and self.sip_configured

    async def async_place_call(
        self,
        sleeper: Sleeper,
        mode: CallMode = CallMode.AUTO,
        instructions: str | None = None,
        engine: EngineKind | None = None,
        trigger: CallTrigger | None = None,
        *,
        transport: RealtimeTransport | None = None,
    ) -> CallSession:
        """Dial the sleeper; returns once Twilio has accepted the call."""
        trigger = trigger or CallTrigger()
        if sleeper.call_in_progress:
            raise _error("call_in_progress", sleeper=sleeper.config.name)
        mode = choose_mode(mode, sleeper.settings, random.random)
        # A call over SIP needs no WebSocket into Home Assistant: the transport is
        # chosen first, and only a Media Stream call waits for the self-test.
        chosen_transport = (
            self.choose_transport(transport) if mode is CallMode.REALTIME else None
        )
        mode_reason: dict[str, str] = {}
        if (
            chosen_transport is RealtimeTransport.MEDIA_STREAM
            and self.preflight is not None
            and trigger.kind is not TriggerKind.TEST
        ):
            if (reason := await self.preflight()) is None:
                pass
            elif self._sip_may_replace_stream(transport):
                LOGGER.info(
                    "The call to %s goes over SIP: Twilio cannot reach Home "
                    "Assistant for a Media Stream (see the repair issue)",
                    sleeper.config.name,
                )
                chosen_transport = RealtimeTransport.SIP
                mode_reason = {"transport_reason": reason.pop("mode_reason", "")}
                mode_reason |= reason
            else:
                LOGGER.warning(
                    "The call to %s goes turn-based: Twilio cannot reach Home "
                    "Assistant for a live call (see the repair issue)",
                    sleeper.config.name,
                )
                mode = CallMode.TRADITIONAL
                chosen_transport = None
                mode_reason = reason
            if sleeper.call_in_progress:  # placed while the self-test ran
                raise _error("call_in_progress", sleeper=sleeper.config.name)
        # Also clears the repair issue once a URL has been set.
        base = async_check_public_url(
            self.hass, self.entry_id, require_https=self.require_https
        )
        if base is None:
            sleeper.record_result(CallResult.FAILED)
            self.emit(sleeper, "failed", attempt=trigger.attempt)
            raise _error("no_public_url")

        session = CallSession(
            sleeper=sleeper.config,
            mode=mode,
            created_at=dt_util.utcnow(),
            public_base=base,
            extra_instructions=instructions,
            trigger=trigger,
        )
        if mode is CallMode.REALTIME:
            session.engine, session.model = self.choose_engine(engine)
            session.transport = chosen_transport
        else:
            session.model = str(self._option(CONF_CHAT_MODEL, DEFAULT_CHAT_MODEL))
        call = Call(
            session=session,
            auth_token=self.auth_token,
            handler=self._handler(session, sleeper),
            host=self,
        )
        self.registry.add(call)
        sleeper.set_call_in_progress(in_progress=True)
        self._emit(sleeper, "dialing", session, trigger=trigger.kind, **mode_reason)
        form = self._create_form(call, sleeper)
        LOGGER.info(
            "Calling %s (%s) in %s mode",
            sleeper.config.name,
            mask_phone(sleeper.config.phone_number),
            f"{mode} ({session.engine}, {session.transport})"
            if session.engine
            else mode,
        )
        # Not a background task: HA cancels those first when it stops, and a cancelled
        # request could leave the phone ringing into a call nobody follows.
        dial = self.hass.async_create_task(
            self._dial(sleeper, call, form), f"{DOMAIN} dial"
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

    def _create_form(self, call: Call, sleeper: Sleeper) -> list[tuple[str, str]]:
        session = call.session
        ring = int(self._option(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT))
        limit = int(self.max_call.total_seconds()) + TIME_LIMIT_MARGIN_SECONDS
        return [
            ("To", sleeper.config.phone_number),
            ("From", self.from_number),
            ("Url", call.url(f"voice/{session.issue_token(TokenUse.VOICE)}")),
            ("Method", "POST"),
            ("StatusCallback", call.url("status")),
            ("StatusCallbackMethod", "POST"),
            *[
                ("StatusCallbackEvent", e)
                for e in ("initiated", "ringing", "answered", "completed")
            ],
            ("Timeout", str(ring)),
            ("TimeLimit", str(limit)),
            ("MachineDetection", "Enable"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", call.url("amd")),
            ("AsyncAmdStatusCallbackMethod", "POST"),
        ]

    async def _dial(
        self, sleeper: Sleeper, call: Call, form: list[tuple[str, str]]
    ) -> None:
        """Have Twilio take the call, then follow it."""
        session = call.session
        try:
            sid = await self.dialer.create(session, form)
        except BaseException as err:
            # Whatever stopped us (Twilio, cancellation, a bug), nothing may stay "in progress".
            if isinstance(err, TwilioAuthError):
                self._abandon(call)
                self.credentials_refused("twilio")
                self.hass.config_entries.async_schedule_reload(self.entry_id)
                raise _error("twilio_auth_failed") from err
            if session.hang_up_requested and isinstance(
                err, (TwilioError, DialStoppedError)
            ):
                # Hung up before Twilio took the call: there is nothing left to place.
                self._abandon(call, CallResult.CANCELED)
                return
            if isinstance(err, DialStoppedError):
                self._abandon(call, CallResult.CANCELED)
                raise _error("call_canceled", sleeper=sleeper.config.name) from None
            self._abandon(call)
            if isinstance(err, TwilioError):
                raise _error("call_failed", error=str(err)) from err
            raise
        if not call.accepts(sid):
            # A callback named another attempt first; that one is the call, and
            # this one has been hung up.
            return
        unloaded = not session.active
        if unloaded or session.hang_up_requested:
            # Unloaded or hung up while Twilio was taking the call: end it now.
            await self.dialer.hang_up(sid)
            if unloaded:
                raise _error("call_canceled", sleeper=sleeper.config.name)
        if session.active:  # its final status may have come while we hung up
            self._arm_watchdog(call)

    def _abandon(self, call: Call, result: CallResult = CallResult.FAILED) -> None:
        """A call that was not placed: end it, once."""
        self.registry.forget(call)
        if call.session.active:
            call.session.end(result, dt_util.utcnow())
            self._finish(call)

    def _arm_watchdog(self, call: Call) -> None:
        """Twilio does not resend a lost status callback: ask it after the longest call."""
        ring = int(self._option(CONF_RING_TIMEOUT, DEFAULT_RING_TIMEOUT))
        limit = self.max_call.total_seconds() + TIME_LIMIT_MARGIN_SECONDS
        self._watchdogs[call.call_id] = async_call_later(
            self.hass,
            ring + limit + WATCHDOG_MARGIN_SECONDS,
            HassJob(partial(self._watchdog_fired, call), cancel_on_shutdown=True),
        )

    @callback
    def _watchdog_fired(self, call: Call, _now: Any) -> None:
        self._watchdogs.pop(call.call_id, None)
        if call.session.active:
            self.spawn(self._expire(call), "watchdog")

    async def _expire(self, call: Call) -> None:
        """No final status arrived: take Twilio's word for it, or hang up."""
        session = call.session
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
                await self.dialer.hang_up(session.call_sid)
                status = "completed"
        if not session.active:
            return
        session.apply_status(
            status or "failed",
            sequence=2**31,  # after anything Twilio could still send
            answered_by=None,
            at=dt_util.utcnow(),
        )
        self._finish(call)

    def _handler(self, session: CallSession, sleeper: Sleeper) -> ModeHandler:
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
            return call_url(session, f"{use}/{session.issue_token(use)}")

        turn_based = TraditionalCall(
            session=session,
            policy=policy,
            proof=lambda: tracker.state(session.created_at),
            chat=partial(
                self._chat,
                str(self._option(CONF_CHAT_MODEL, DEFAULT_CHAT_MODEL)),
                time_limit=CHAT_TIMEOUT,
            ),
            url=url,
            now=lambda: dt_util.as_local(dt_util.utcnow()),
            max_duration=self.max_call,
        )
        if session.mode is not CallMode.REALTIME:
            return turn_based
        if session.transport is RealtimeTransport.SIP:
            assert session.engine is not None  # noqa: S101
            project = str(self.options[CONF_OPENAI_PROJECT_ID])
            return SipCall(
                session=session,
                engine=session.engine,
                policy=policy,
                proof=lambda: tracker.state(session.created_at),
                watch_proof=tracker.add_listener,
                turn_based=turn_based,
                url=url,
                sip_address=partial(sip_uri, project),
                make_sideband=partial(self._sideband, session),
                control=self.sip_control,
                host=self,
                now=lambda: dt_util.as_local(dt_util.utcnow()),
                max_duration=self.max_call,
                dial_time_limit=int(self.max_call.total_seconds())
                + TIME_LIMIT_MARGIN_SECONDS,
            )
        return RealtimeCall(
            session=session,
            policy=policy,
            proof=lambda: tracker.state(session.created_at),
            watch_proof=tracker.add_listener,
            turn_based=turn_based,
            url=url,
            stream_url=lambda token: stream_url(session, token),
            make_engine=partial(self._engine, session),
            host=self,
            now=lambda: dt_util.as_local(dt_util.utcnow()),
            max_duration=self.max_call,
        )

    async def _chat(
        self, model: str, messages: list[dict[str, str]], *, time_limit: float
    ) -> str:
        """A coach reply; a refused API key is reported (the call speaks a fallback line)."""
        try:
            return await async_chat_reply(
                self.openai, model, messages, time_limit=time_limit
            )
        except ChatUnavailableError as err:
            if isinstance(err.__cause__, openai.AuthenticationError):
                self.credentials_refused("openai")
            raise

    def credentials_refused(self, service: str) -> None:
        """Twilio or OpenAI refused the entry's credentials during a call."""
        for listener in list(self.credentials_listeners):
            listener(service)

    def _engine(self, session: CallSession) -> VoiceEngine:
        assert session.engine is not None  # noqa: S101
        assert session.model is not None  # noqa: S101
        return make_engine(
            session.engine,
            async_get_clientsession(self.hass),
            base_url=self.entry_data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
            api_key=self.entry_data[CONF_OPENAI_API_KEY],
            model=session.model,
            voice=session.sleeper.realtime_voice,
            language=session.sleeper.language,
        )

    def _sideband(self, session: CallSession, call: IncomingCall) -> VoiceEngine:
        assert session.engine is not None  # noqa: S101
        assert session.model is not None  # noqa: S101
        return make_sideband(
            session.engine,
            async_get_clientsession(self.hass),
            base_url=self.entry_data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
            api_key=self.entry_data[CONF_OPENAI_API_KEY],
            call_id=call.call_id,
            model=session.model,
            voice=session.sleeper.realtime_voice,
            language=session.sleeper.language,
        )

    @property
    def sip_control(self) -> SipControl:
        """Accept, reject and hang up OpenAI SIP calls with the entry's key."""
        return SipControl(
            async_get_clientsession(self.hass),
            base_url=self.entry_data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
            api_key=self.entry_data[CONF_OPENAI_API_KEY],
        )

    # --- what happens on a call (CallHost) -------------------------------------------

    def call_named(self, call: Call) -> None:
        """Twilio named the call: no retry may place another."""
        self.dialer.named(call.session)

    def call_answered(self, call: Call) -> None:
        """A person answered."""
        sleeper = self.sleepers[call.session.sleeper.subentry_id]
        self._emit(sleeper, "answered", call.session)

    def call_ended(self, call: Call) -> None:
        """A final status callback arrived."""
        self._finish(call)

    def hang_up_later(self, call_sid: str, reason: str) -> None:
        """Hang up a call in the background."""
        LOGGER.info("Hanging up a call: %s", reason)
        self.spawn(self.dialer.hang_up(call_sid), "hang up")

    def fallback(self, call_session: CallSession, reason: str) -> None:
        """A realtime call continues turn-based."""
        sleeper = self.sleepers[call_session.sleeper.subentry_id]
        LOGGER.warning(
            "The live call to %s continues turn-based: %s", sleeper.config.name, reason
        )
        self._emit(sleeper, "fallback", call_session, reason=reason)
        if reason == "openai_auth_failed":
            self.credentials_refused("openai")

    def stream_state(
        self,
        *,
        connected: bool,
        reason: str | None = None,
        session: CallSession | None = None,
    ) -> None:
        """Whether Twilio could open the Media Stream: a repair issue explains when not."""
        async_stream_issue(self.hass, self.entry_id, connected=connected, reason=reason)
        for listener in list(self.stream_listeners):
            listener(session, connected, reason)

    def sip_state(self, *, connected: bool, cause: str = "", detail: str = "") -> None:
        """Whether SIP calls reach Home Assistant: a repair issue names the cause when not."""
        async_sip_issue(
            self.hass, self.entry_id, connected=connected, cause=cause, detail=detail
        )

    def note_webhook_trouble(self, reason: str) -> None:
        """A webhook was refused; the likely cause is kept for a SIP call that stays silent."""
        if cause := WEBHOOK_TROUBLE.get(reason):
            self._webhook_trouble = (cause, time.monotonic())

    def webhook_trouble(self, since: float) -> str | None:
        """The likely cause of the last webhook refused since `since` (monotonic)."""
        trouble = self._webhook_trouble
        return trouble[0] if trouble is not None and trouble[1] >= since else None

    async def redirect(self, call_sid: str, url: str) -> None:
        """Send a live call to new TwiML through the REST API."""
        await self.twilio.async_update_call(
            call_sid, [("Url", url), ("Method", "POST")]
        )

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a coroutine that belongs to this entry's calls; cancelled on unload."""
        task = self.hass.async_create_background_task(coro, f"{DOMAIN} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- ending -------------------------------------------------------------------------

    def _finish(self, call: Call) -> None:
        session = call.session
        assert session.result is not None  # noqa: S101
        self.registry.retire(call)
        if cancel_watchdog := self._watchdogs.pop(call.call_id, None):
            cancel_watchdog()
        sleeper = self.sleepers[session.sleeper.subentry_id]
        sleeper.set_call_in_progress(in_progress=False)
        sleeper.record_result(session.result)
        self.spawn(call.handler.aclose(), "close")
        self.history.appendleft(session.summary())
        LOGGER.info("Call to %s ended: %s", sleeper.config.name, session.result)
        LOGGER.debug(
            "Transcript of call %s: %s", session.call_id[:6], session.transcript
        )
        self._emit(sleeper, str(session.result), session)
        for listener in list(self.finished_listeners):
            listener(session)
        if self._when_idle is not None and not self.busy:
            run, self._when_idle = self._when_idle, None
            run()

    @property
    def busy(self) -> bool:
        """A call of this entry is being dialled or is in progress."""
        return bool(self.calls_of())

    @callback
    def async_when_idle(self, job: Callable[[], None]) -> None:
        """Run `job` once no call of this entry is live (a later job replaces it)."""
        if self.busy:
            self._when_idle = job
        else:
            job()

    async def async_hang_up(self, sleeper: Sleeper) -> None:
        """End the sleeper's call in progress."""
        calls = self.calls_of(sleeper)
        if not calls:
            raise _error("no_call_in_progress", sleeper=sleeper.config.name)
        for call in calls:
            call.session.revoke_tokens()
            if not call.session.call_sid:
                # Still dialling: hung up as soon as Twilio names the call.
                call.session.hang_up_requested = True
                self.dialer.stop(call.session)
            else:
                try:
                    await self.twilio.async_update_call(
                        call.session.call_sid, [("Status", "completed")]
                    )
                except TwilioError as err:
                    raise _error("call_failed", error=str(err)) from err

    def current_call_id(self, sleeper: Sleeper) -> str | None:
        """The sleeper's call in progress, if any."""
        calls = self.calls_of(sleeper)
        return calls[0].call_id if calls else None

    def confirm_awake(self, sleeper: Sleeper) -> None:
        """Count as proof, as a verification entity would."""
        self.proof[sleeper.subentry_id].confirm()

    def _emit(
        self, sleeper: Sleeper, event_type: str, session: CallSession, **extra: Any
    ) -> None:
        """An event about one call."""
        self.emit(
            sleeper,
            event_type,
            call_id=session.call_id,
            mode=session.mode,
            engine=session.engine,
            transport=session.transport,
            attempt=session.trigger.attempt,
            **extra,
        )

    def emit(self, sleeper: Sleeper, event_type: str, **data: Any) -> None:
        """A step of a sleeper's wake-up: on the bus and on their event entity."""
        event = {
            "type": event_type,
            "sleeper": sleeper.config.name,
            "device_id": self._device_id(sleeper),
            **data,
        }
        sleeper.emit(event_type, event)
        self.hass.bus.async_fire(EVENT_CALL, event)

    def _device_id(self, sleeper: Sleeper) -> str | None:
        registry = dr.async_get(self.hass)
        for device in dr.async_entries_for_config_entry(registry, self.entry_id):
            if (DOMAIN, sleeper.subentry_id) in device.identifiers:
                return device.id
        return None

    async def async_shutdown(self) -> None:
        """The entry is unloading: hang up its calls and stop its tasks."""
        self._when_idle = None
        for call in self.calls_of():
            # Re-checked each time: a status callback may end a call while we await.
            if not call.session.active:
                continue
            LOGGER.warning(
                "Hanging up the call to %s: the integration is unloading",
                call.session.sleeper.name,
            )
            call.session.end(CallResult.CANCELED, dt_util.utcnow())
            if call.session.call_sid:
                await self.dialer.hang_up(call.session.call_sid)
            await call.handler.aclose()
            self._finish(call)
        # A dial in flight sees its session ended and hangs up what Twilio placed.
        self.dialer.stop_all()
        await asyncio.gather(*self._dials, return_exceptions=True)
        for cancel_watchdog in self._watchdogs.values():
            cancel_watchdog()
        self._watchdogs.clear()
        for task in list(self._tasks):
            task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
