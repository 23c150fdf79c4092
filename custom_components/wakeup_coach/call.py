"""One call as Twilio's endpoints meet it.

The views find a call by its id and talk to it: check a request's signature,
then hand over a status callback, a machine-detection verdict, a TwiML request
or a Media Stream. The call updates its session and asks its mode handler for
TwiML; what concerns the sleeper (events, entities, redials) goes to its host,
the manager that placed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import time
from typing import Protocol

from homeassistant.util import dt as dt_util
from twilio.request_validator import RequestValidator

from . import twiml
from .call_session import (
    OUT_OF_BAND,
    CallSession,
    TokenUse,
    UnknownTokenError,
    is_machine,
)
from .const import LOGGER
from .modes import ModeHandler
from .realtime import RealtimeCall

CALL_PATH = "/api/wakeup_coach/call"
STREAM_PATH = "/api/wakeup_coach/stream"
# A call's URLs keep answering politely this long after it ended: Twilio may
# still be finishing a request that crossed the hang-up.
ENDED_GRACE_SECONDS = 600.0
# A forged request for a real call id is worth a warning, but not one per request.
WARNING_INTERVAL_SECONDS = 60.0


def call_url(session: CallSession, path: str) -> str:
    """Public URL of one of a call's endpoints, exactly as Twilio gets (and signs) it."""
    return f"{session.public_base}{CALL_PATH}/{session.call_id}/{path}"


def stream_url(session: CallSession, token: str) -> str:
    """The ws(s):// URL of a call's Media Stream, exactly as given to Twilio."""
    scheme, rest = session.public_base.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}{STREAM_PATH}/{session.call_id}/{token}"


class CallHost(Protocol):
    """What a call needs from the manager that placed it."""

    def call_named(self, call: Call) -> None:
        """Twilio named the call (its CallSid is now known)."""

    def call_answered(self, call: Call) -> None:
        """A person answered (not voicemail): fires `answered` once."""

    def call_ended(self, call: Call) -> None:
        """The call has ended; its session holds the result."""

    def hang_up_later(self, call_sid: str, reason: str) -> None:
        """Hang up a call in the background."""


@dataclass
class Call:
    """A call in progress (or just ended), as the views see it."""

    session: CallSession
    auth_token: str
    handler: ModeHandler
    host: CallHost
    _foreign: set[str] = field(default_factory=set)
    _warned_at: float = -1e9

    @property
    def call_id(self) -> str:
        """The unguessable id in every URL of the call."""
        return self.session.call_id

    def url(self, path: str) -> str:
        """Public URL of one of the call's endpoints, exactly as Twilio gets (and signs) it."""
        return call_url(self.session, path)

    def authentic(self, url: str, form: Mapping[str, str], signature: str) -> bool:
        """Whether X-Twilio-Signature is Twilio's, over the URL we generated."""
        if not signature:
            return False
        validator = RequestValidator(self.auth_token)
        return bool(validator.validate(url, dict(form), signature))

    def accepts(self, call_sid: str | None) -> bool:
        """Whether a signed request is for this call's own Twilio call.

        The first CallSid Twilio names is ours. Another one carrying our signed
        URLs is a second call that an ambiguous retry placed: it is hung up, once.
        """
        session = self.session
        if not call_sid:
            return True
        if session.call_sid is None:
            session.call_sid = call_sid
            self.host.call_named(self)
            return True
        if call_sid == session.call_sid:
            return True
        if call_sid not in self._foreign:
            self._foreign.add(call_sid)
            self.host.hang_up_later(call_sid, "a second call of the same wake-up")
        return False

    def should_warn(self) -> bool:
        """Whether a refused request for this call may log a warning now (else debug)."""
        now = time.monotonic()
        if now - self._warned_at < WARNING_INTERVAL_SECONDS:
            return False
        self._warned_at = now
        return True

    # --- callbacks ----------------------------------------------------------------

    def on_status(self, form: Mapping[str, str]) -> None:
        """A status callback: move the call on, and finish it when it has ended.

        Twilio numbers every call-progress callback. One without a number is not
        Twilio's (or was tampered with: the signature does not cover where one
        field ends and the next begins), so it changes nothing.
        """
        try:
            sequence = int(form["SequenceNumber"])
        except (KeyError, ValueError):
            LOGGER.debug("Ignored a status callback without a sequence number")
            return
        session = self.session
        result = session.apply_status(
            form.get("CallStatus", ""),
            sequence=sequence,
            answered_by=form.get("AnsweredBy"),
            at=dt_util.utcnow(),
        )
        if result is not None:
            self.host.call_ended(self)

    def on_amd(self, form: Mapping[str, str]) -> None:
        """Answering-machine detection: a person fires `answered`, a machine is hung up on.

        Twilio sends one verdict per call; a replayed one is ignored.
        """
        session = self.session
        if session.amd_verdict is not None or not session.active:
            LOGGER.debug("Ignored a second machine-detection verdict")
            return
        answered_by = form.get("AnsweredBy", "")
        session.amd_verdict = answered_by
        session.answered_by = answered_by or session.answered_by
        if not is_machine(answered_by):
            # "human" or "unknown" (silence, a mumble): as sure as Twilio can be.
            if session.note_human():
                self.host.call_answered(self)
            return
        LOGGER.info(
            "Voicemail answered the call to %s; hanging up", session.sleeper.name
        )
        session.revoke_tokens()
        if session.call_sid:
            self.host.hang_up_later(session.call_sid, "voicemail")

    async def on_twiml(self, use: TokenUse, token: str, form: Mapping[str, str]) -> str:
        """TwiML for a request to one of the call's single-use URLs.

        Raises UnknownTokenError for a token never issued. A spent or revoked one
        (a request that crossed a hang-up or the voicemail verdict) gets <Hangup/>:
        a 404 would make Twilio say "an application error has occurred".
        """
        started = time.perf_counter()
        if use in OUT_OF_BAND:
            raise UnknownTokenError  # no TwiML URL: the stream's or the SIP header's
        if not self.session.redeem_token(use, token):
            return twiml.hang_up()
        handler = self.handler
        try:
            document = await handler.twiml(use, form)
        except Exception:  # noqa: BLE001 - logged with its traceback just below
            # A bug must not cost the wake-up: Twilio would apologise and hang up.
            LOGGER.exception("Error while answering Twilio; the call goes on")
            document = handler.recover()
        if not self.session.active:
            # The call ended (hang-up, unload) while the model was thinking.
            return twiml.hang_up()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.session.turn_overhead_ms.append(elapsed_ms - handler.model_ms)
        return document

    def claim_stream(self, token: str) -> RealtimeCall | None:
        """The realtime handler, if this token opens the call's Media Stream (once)."""
        handler = self.handler
        if isinstance(handler, RealtimeCall) and handler.claim_stream(token):
            return handler
        return None


class CallRegistry:
    """Every call of every entry, by id; ended calls stay a while for late requests."""

    def __init__(self) -> None:
        """No calls yet."""
        self._calls: dict[str, Call] = {}
        self._ended: dict[str, tuple[Call, float]] = {}

    def add(self, call: Call) -> None:
        """A new call."""
        self._calls[call.call_id] = call

    def get(self, call_id: str) -> Call | None:
        """The call with this id, live or recently ended."""
        if call := self._calls.get(call_id):
            return call
        now = time.monotonic()
        for ended_id, (_, until) in list(self._ended.items()):
            if until < now:
                del self._ended[ended_id]
        found = self._ended.get(call_id)
        return found[0] if found else None

    def retire(self, call: Call) -> None:
        """The call has ended: it answers late requests politely for a while."""
        if self._calls.pop(call.call_id, None) is not None:
            self._ended[call.call_id] = (call, time.monotonic() + ENDED_GRACE_SECONDS)

    def forget(self, call: Call) -> None:
        """A call that was never placed: its URLs were never given out."""
        self._calls.pop(call.call_id, None)

    def live(self) -> list[Call]:
        """Calls not ended yet."""
        return list(self._calls.values())
