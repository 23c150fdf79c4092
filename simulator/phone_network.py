"""The simulated phone network: calls ring, are answered, and run the integration's TwiML.

Every request to the integration is signed the way Twilio signs it. What Twilio
would report as an application error is recorded on the call and in the recorder.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from . import twilio_rest, twiml
from .sleepers import (
    DEFAULT_SCRIPT,
    SCRIPTS,
    Answer,
    HangUp,
    Say,
    Silence,
    SleeperScript,
)

if TYPE_CHECKING:
    from .accounts import TwilioAccountState
    from .server import Simulator

AMD_SECONDS = 2.5  # how long answering-machine detection listens
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
FINAL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}


@dataclass(frozen=True)
class Fetch:
    """TwiML to request next: a Redirect, a Gather action, a Connect action."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)


class CallEnded(Exception):  # noqa: N818 - a signal, not an error
    """The call is over (hung up by someone); stop running TwiML."""


@dataclass
class CallRecord:
    """What a test can see of one simulated call."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_events: frozenset[str]
    status_method: str
    timeout: float
    time_limit: float
    machine_detection: str | None
    async_amd_callback: str | None
    script: SleeperScript
    status: str = "queued"
    answered_by: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # "twiml", "sleeper", "rest", "time_limit", "network"
    # ("coach" | "sleeper", text) in the order they were said
    transcript: list[tuple[str, str]] = field(default_factory=list)
    # (url, HTTP status or None for no answer) of every TwiML request
    webhooks: list[tuple[str, int | None]] = field(default_factory=list)
    status_callbacks: list[tuple[str, int | None]] = field(default_factory=list)
    application_error: str | None = None
    turns: int = 0  # lines of the script used
    proofs: int = 0
    stream_sids: list[str] = field(default_factory=list)
    # The <Dial> legs: Twilio's parameters for each leg's <Dial action> (DialCallStatus...)
    dials: list[dict[str, str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def duration(self) -> int:
        """Seconds from answer to end, as Twilio reports CallDuration."""
        if self.answered_at is None or self.ended_at is None:
            return 0
        return round(self.ended_at - self.answered_at)

    def said(self, who: str) -> list[str]:
        """Everything one side said."""
        return [text for speaker, text in self.transcript if speaker == who]


class SimulatedCall:
    """The life of one call, from queued to completed."""

    def __init__(
        self, sim: Simulator, account: TwilioAccountState, record: CallRecord
    ) -> None:
        """Prepare; `start` runs it."""
        self.sim = sim
        self.account = account
        self.record = record
        self._validator = RequestValidator(account.auth_token)
        self._task: asyncio.Task[None] | None = None
        self._document: asyncio.Task[Fetch | None] | None = None
        self._redirect: Fetch | str | None = None
        self._shutting_down = False
        self._sequence = 0

    def start(self) -> None:
        """Run the call in the background."""
        self._task = asyncio.create_task(
            self._run(), name=f"simulated call {self.record.sid}"
        )

    async def wait(self) -> None:
        """Until the call has ended."""
        await self.record.done.wait()

    async def cancel(self) -> None:
        """Stop the call at once (simulator shutdown): no more requests to the integration."""
        self._shutting_down = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    # --- signing and requests ----------------------------------------------------

    def signature(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a request to `url` with these form params."""
        return str(self._validator.compute_signature(url, params))

    def _call_params(self) -> dict[str, str]:
        record = self.record
        params = {
            "AccountSid": record.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": record.sid,
            "CallStatus": record.status,
            "Called": record.to,
            "Caller": record.from_,
            "Direction": "outbound-api",
            "From": record.from_,
            "To": record.to,
        }
        if record.answered_by is not None:
            params["AnsweredBy"] = record.answered_by
        return params

    async def _post(
        self, url: str, params: dict[str, str], *, method: str = "POST", wait: float
    ) -> tuple[int | None, str, str]:
        """Send a signed request; (status or None, content type, body)."""
        session = self.sim.session
        request_url = url
        data: dict[str, str] | None = params
        if method == "GET":
            query = urlencode(params)
            request_url = f"{url}{'&' if '?' in url else '?'}{query}"
            data = None
            signature = self.signature(request_url, {})
        else:
            signature = self.signature(url, params)
        try:
            async with session.request(
                method,
                request_url,
                data=data,
                headers={
                    "X-Twilio-Signature": signature,
                    "User-Agent": "TwilioProxy/1.1",
                },
                # Twilio's HTTP timeouts are wall-clock time, whatever the simulation speed.
                timeout=aiohttp.ClientTimeout(total=wait),
                allow_redirects=True,
            ) as response:
                body = await response.text()
                return response.status, response.content_type, body
        except (aiohttp.ClientError, TimeoutError):
            return None, "", ""

    async def _status(self, event: str, **extra: str) -> None:
        """Post a status callback if the integration asked for this event."""
        record = self.record
        if (
            self._shutting_down
            or not record.status_callback
            or event not in record.status_events
            or event in self.sim.lost_status_events
        ):
            return
        self._sequence += 1
        params = self._call_params() | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._sequence - 1),
            "Timestamp": "Thu, 26 Nov 2026 06:30:00 +0000",
        }
        params.update(extra)
        status, _, _ = await self._post(
            record.status_callback,
            params,
            method=record.status_method,
            wait=self.sim.webhook_timeout,
        )
        record.status_callbacks.append((event, status))

    async def _async_amd(self, detected: str) -> None:
        await self.sim.clock.sleep(AMD_SECONDS)
        record = self.record
        if record.done.is_set() or record.async_amd_callback is None:
            return
        record.answered_by = detected
        params = {
            "AccountSid": record.account_sid,
            "CallSid": record.sid,
            "AnsweredBy": detected,
            "MachineDetectionDuration": str(int(AMD_SECONDS * 1000)),
        }
        status, _, _ = await self._post(
            record.async_amd_callback, params, wait=self.sim.webhook_timeout
        )
        record.status_callbacks.append(("amd", status))

    # --- the call's life -----------------------------------------------------------

    async def _run(self) -> None:
        record = self.record
        clock = self.sim.clock
        script = record.script
        final = "completed"
        try:
            record.status = "initiated"
            await self._status("initiated")
            await clock.sleep(0.3)
            record.status = "ringing"
            await self._status("ringing")
            if script.answer is Answer.BUSY:
                await clock.sleep(1.0)
                final = "busy"
                return
            if script.answer is Answer.FAILED:
                final = "failed"
                return
            if (
                script.answer is Answer.NO_ANSWER
                or script.ring_seconds >= record.timeout
            ):
                await clock.sleep(record.timeout)
                final = "no-answer"
                return
            await clock.sleep(script.ring_seconds)
            record.status = "in-progress"
            record.answered_at = clock.now()
            detected = "machine_start" if script.answer is Answer.MACHINE else "human"
            if record.machine_detection and record.async_amd_callback:
                # Asynchronous AMD: the call goes on; the verdict is posted a little later.
                self.sim.spawn(self._async_amd(detected))
            elif record.machine_detection:
                # Synchronous AMD: the verdict comes with the first TwiML request.
                record.answered_by = detected
            await self._status("answered")
            try:
                async with asyncio.timeout(clock.real(record.time_limit)):
                    await self._run_twiml()
                record.ended_by = record.ended_by or "twiml"
            except TimeoutError:
                record.ended_by = "time_limit"
        except CallEnded:
            pass
        finally:
            # Also reached when a REST update (Status=completed) cancels this task.
            if self._document is not None and not self._document.done():
                self._document.cancel()
            if record.answered_at is None and record.ended_by == "rest":
                final = "canceled"
            record.status = final
            record.ended_at = clock.now()
            self.sim.recorder.event(
                "call_ended", sid=record.sid, status=final, by=record.ended_by
            )
            extra = {
                "CallDuration": str(record.duration),
                "Duration": str(record.duration),
            }
            await self._status("completed", **extra)
            record.done.set()

    async def _run_twiml(self) -> None:
        """Fetch and run documents until one ends the call."""
        record = self.record
        if record.twiml is not None:
            next_document: Fetch | str | None = record.twiml
        else:
            assert record.url is not None  # noqa: S101 - checked when the call was created
            next_document = Fetch(record.url, record.method)
        while next_document is not None:
            if isinstance(next_document, Fetch):
                document = await self._fetch(next_document)
                base = next_document.url
            else:
                document, base = next_document, record.url or "http://localhost/"
            if document is None:
                return
            self._document = asyncio.create_task(self._run_document(document, base))
            try:
                next_document = await self._document
            except asyncio.CancelledError:
                if self._redirect is None:
                    raise
                next_document = self._redirect
            self._redirect = None
        record.ended_by = record.ended_by or "twiml"

    async def _fetch(self, fetch: Fetch) -> str | None:
        """TwiML from the integration, or None after an application error."""
        url = fetch.url
        status, content_type, body = await self._post(
            url,
            self._call_params() | fetch.params,
            method=fetch.method,
            wait=self.sim.webhook_timeout,
        )
        self.record.webhooks.append((url, status))
        if status is None:
            await self._application_error(
                f"11205: no response from {urlsplit(url).path}"
            )
            return None
        if not 200 <= status < 300:
            await self._application_error(
                f"11200: HTTP {status} from {urlsplit(url).path}"
            )
            return None
        if "xml" not in content_type:
            await self._application_error(
                f"12300: invalid content type {content_type!r}"
            )
            return None
        return body

    async def _application_error(self, reason: str) -> None:
        """Say what Twilio says, and end the call."""
        self.record.application_error = reason
        self.sim.recorder.event("application_error", sid=self.record.sid, reason=reason)
        self.record.transcript.append(("twilio", APPLICATION_ERROR))
        await self.sim.clock.sleep(twiml.speaking_seconds(APPLICATION_ERROR))
        self.record.ended_by = "application_error"

    async def _run_document(self, document: str, base: str) -> Fetch | None:
        """Run one document's verbs; the next document to fetch, or None to hang up."""
        try:
            verbs = twiml.parse(document, base)
        except twiml.TwiMLError as err:
            await self._application_error(str(err))
            return None
        for verb in verbs:
            match verb:
                case twiml.Say() | twiml.Play() | twiml.Pause():
                    await self._play(verb)
                case twiml.Gather():
                    if (result := await self._gather(verb)) is not None:
                        return result
                case twiml.Redirect():
                    return Fetch(verb.url, verb.method)
                case twiml.Hangup():
                    return None
                case twiml.Connect():
                    await self.sim.media_streams.run(self, verb.stream)
                    if verb.action:
                        return Fetch(verb.action, verb.method)
                case twiml.Dial():
                    dialled = await self.sim.sip.dial(self, verb)
                    self.record.dials.append(dialled)
                    if verb.action:
                        return Fetch(verb.action, verb.method, dialled)
        return None

    async def _play(self, verb: twiml.Say | twiml.Play | twiml.Pause) -> None:
        clock = self.sim.clock
        if isinstance(verb, twiml.Say):
            self.record.transcript.append(("coach", verb.text))
            await clock.sleep(twiml.speaking_seconds(verb.text))
        elif isinstance(verb, twiml.Play):
            await clock.sleep(1.0)
        else:
            await clock.sleep(verb.length)

    def next_line(self) -> Say | Silence | HangUp:
        """The sleeper's next line; voicemail never talks."""
        record = self.record
        if record.script.answer is Answer.MACHINE:
            return Silence()
        line = record.script.line(record.turns)
        record.turns += 1
        return line

    async def prove(self) -> None:
        """The sleeper does what their verification entity notices."""
        self.record.proofs += 1
        await self.sim.run_proof_hooks(self.record)

    async def _gather(self, verb: twiml.Gather) -> Fetch | None:
        """Play the prompt, listen, post the speech; None falls through to the next verb."""
        clock = self.sim.clock
        line = self.next_line()
        interrupted = False
        for nested in verb.nested:
            if (
                isinstance(line, Say)
                and line.barge_in
                and verb.barge_in
                and "speech" in verb.input
            ):
                # Barge-in: the sleeper starts talking a moment into the prompt.
                if isinstance(nested, twiml.Say):
                    self.record.transcript.append(("coach", nested.text))
                await clock.sleep(1.0)
                interrupted = True
                break
            await self._play(nested)
        if isinstance(line, HangUp):
            await clock.sleep(self.record.script.think_seconds)
            self.record.ended_by = "sleeper"
            raise CallEnded
        if isinstance(line, Silence) or "speech" not in verb.input:
            await clock.sleep(verb.timeout)
            if verb.action_on_empty_result and verb.action:
                return Fetch(verb.action, verb.method)
            return None
        if not interrupted:
            await clock.sleep(self.record.script.think_seconds)
        if line.proof:
            await self.prove()
        self.record.transcript.append(("sleeper", line.text))
        end_of_speech = (
            1.0 if verb.speech_timeout == "auto" else float(verb.speech_timeout)
        )
        await clock.sleep(twiml.speaking_seconds(line.text) + end_of_speech)
        if not verb.action:
            return None
        speech = {"SpeechResult": line.text, "Confidence": f"{line.confidence:.2f}"}
        return Fetch(verb.action, verb.method, speech)

    # --- REST updates --------------------------------------------------------------

    def update(self, form: dict[str, str]) -> None:
        """Apply a REST update: hang up, cancel, or redirect to new TwiML."""
        record = self.record
        status = form.get("Status")
        if status in ("completed", "canceled"):
            record.ended_by = "rest"
            if self._task is not None:
                self._task.cancel()
            return
        if "Twiml" in form:
            self._redirect = form["Twiml"]
        elif "Url" in form:
            self._redirect = Fetch(form["Url"], form.get("Method", "POST").upper())
        else:
            return
        if self._document is not None and not self._document.done():
            self._document.cancel()


class PhoneNetwork:
    """Every simulated call, by SID, and which script answers which number."""

    def __init__(self, sim: Simulator) -> None:
        """No calls yet; every number answers with the default script."""
        self.sim = sim
        self.calls: dict[str, SimulatedCall] = {}
        self.scripts: dict[str, SleeperScript] = {}
        self.default_script: SleeperScript = SCRIPTS[DEFAULT_SCRIPT]
        # Set by shutdown: a Calls.json request still in flight then must not start a call
        # that nothing would ever cancel.
        self.closed = False

    def script_for(self, number: str) -> SleeperScript:
        """The script that answers `number`."""
        return self.scripts.get(number, self.default_script)

    def place(self, account: TwilioAccountState, form: dict[str, Any]) -> CallRecord:
        """Create and start a call from a validated Calls.json form."""
        events = {
            part
            for event in twilio_rest.status_callback_events(form)
            for part in event.split()
        }
        record = CallRecord(
            sid="CA" + secrets.token_hex(16),
            account_sid=account.sid,
            to=form["To"],
            from_=form["From"],
            url=form.get("Url"),
            method=str(form.get("Method", "POST")).upper(),
            twiml=form.get("Twiml") if not form.get("Url") else None,
            status_callback=form.get("StatusCallback"),
            status_events=frozenset(events or {"completed"}) | {"completed"},
            status_method=str(form.get("StatusCallbackMethod", "POST")).upper(),
            timeout=float(form.get("Timeout", 60)),
            time_limit=float(form.get("TimeLimit", 14400)),
            machine_detection=form.get("MachineDetection"),
            async_amd_callback=form.get("AsyncAmdStatusCallback"),
            script=self.script_for(form["To"]),
        )
        call = SimulatedCall(self.sim, account, record)
        self.calls[record.sid] = call
        self.sim.recorder.event("call_placed", sid=record.sid, to=record.to)
        if self.closed:
            record.status = "canceled"
            record.ended_by = "network"
            record.done.set()
        else:
            call.start()
        for hook in list(self.sim.call_hooks):
            hook(record)
        return record

    def expect_call(self) -> asyncio.Future[CallRecord]:
        """A future for the next call placed (for tests): register before placing it."""
        future: asyncio.Future[CallRecord] = asyncio.get_running_loop().create_future()

        def hook(record: CallRecord) -> None:
            self.sim.call_hooks.remove(hook)
            if not future.done():
                future.set_result(record)

        self.sim.call_hooks.append(hook)
        return future

    async def shutdown(self) -> None:
        """End every call, and start no more."""
        self.closed = True
        await asyncio.gather(*(call.cancel() for call in self.calls.values()))
