"""The Twilio-facing endpoints refuse anything that is not Twilio, before doing any work.

Each rejected request is checked for its status code and for having caused
nothing: no request to Twilio or OpenAI, no transcript line, no state change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from twilio.request_validator import RequestValidator

from custom_components.wakeup_coach import views
from custom_components.wakeup_coach.call import Call
from custom_components.wakeup_coach.call_session import CallState
from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL
from custom_components.wakeup_coach.views import MAX_BODY_BYTES
from simulator.accounts import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from simulator.phone_network import CallRecord
from simulator.sleepers import Answer, SleeperScript

from .conftest import SLEEPER_NUMBER, Live

HANG_UP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
# A sleeper whose phone rings for ten minutes: the call stays "ringing" while the
# tests knock on its endpoints.
RINGING = SleeperScript(
    name="ringing", description="rings", answer=Answer.HUMAN, ring_seconds=10_000
)


@dataclass
class RingingCall:
    """A call in progress and what the integration handed Twilio for it."""

    live: Live
    record: CallRecord
    active: Call

    @property
    def voice_url(self) -> str:
        assert self.record.url is not None
        return self.record.url

    @property
    def status_url(self) -> str:
        assert self.record.status_callback is not None
        return self.record.status_callback

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "CallSid": self.record.sid,
            "CallStatus": "in-progress",
            "From": "+15550100100",
            "To": SLEEPER_NUMBER,
            **extra,
        }

    async def post(
        self,
        url: str,
        params: dict[str, str],
        *,
        signature: str | None = "valid",
        body: bytes | None = None,
    ) -> int:
        """POST like Twilio would; `signature` "valid" signs correctly, None sends none."""
        status, _ = await self.request(url, params, signature=signature, body=body)
        return status

    async def request(
        self,
        url: str,
        params: dict[str, str],
        *,
        signature: str | None = "valid",
        body: bytes | None = None,
    ) -> tuple[int, str]:
        """POST like Twilio would; the status and the body of the answer."""
        headers = {}
        if signature == "valid":
            headers["X-Twilio-Signature"] = RequestValidator(
                DEFAULT_AUTH_TOKEN
            ).compute_signature(url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        path = urlsplit(url).path
        if body is not None:
            response = await self.live.client.post(
                path,
                data=body,
                headers=headers | {"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response = await self.live.client.post(path, data=params, headers=headers)
        return response.status, await response.text()

    def footprint(self) -> tuple[Any, ...]:
        """Everything a request could change or cause."""
        session = self.active.session
        return (
            len(self.live.simulator.recorder.requests),
            len(self.live.simulator.chat_requests),
            len(session.transcript),
            session.state,
            session.answered_by,
            self.live.sleeper.call_in_progress,
            self.live.sleeper.settings,
            dict(session._tokens),
        )


@pytest.fixture
async def ringing(live: Live) -> RingingCall:
    """A call that rings for a long time, placed through the action."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    hass = live.hass
    hass.config_entries.async_update_entry(live.entry, options={"ring_timeout": 120})
    await hass.async_block_till_done()
    waiting = live.simulator.network.expect_call()
    await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await waiting
    active = live.entry.runtime_data.calls.calls_of()[0]
    # Its initiated and ringing callbacks come in the background: let them land
    # before a test compares footprints (nothing more comes until an answer).
    async with asyncio.timeout(10):
        while active.session.state is not CallState.RINGING:
            await asyncio.sleep(0.01)
    return RingingCall(live, record, active)


async def test_valid_request_is_served_once(ringing: RingingCall) -> None:
    """The voice URL works once, signed; a replay is told to hang up and changes nothing."""
    before = ringing.footprint()
    status, first = await ringing.request(ringing.voice_url, ringing.params())
    assert status == 200
    assert "<Gather" in first
    assert ringing.footprint() != before
    after_first = ringing.footprint()
    # A 404 would make Twilio apologise for "an application error" on a live call.
    assert await ringing.request(ringing.voice_url, ringing.params()) == (200, HANG_UP)
    assert ringing.footprint() == after_first


@pytest.mark.parametrize(
    ("signature", "extra", "tamper"),
    [
        (None, {}, None),  # no signature
        ("", {}, None),  # empty signature
        ("bm90IGEgc2lnbmF0dXJl", {}, None),  # garbage
        ("other_token", {}, None),  # signed with another account's token
        (
            "valid",
            {"SpeechResult": "goodbye"},
            "params",
        ),  # params changed after signing
        ("valid", {}, "url"),  # signed for another URL of the same call
    ],
)
async def test_bad_signatures(
    ringing: RingingCall,
    signature: str | None,
    extra: dict[str, str],
    tamper: str | None,
) -> None:
    """403 for every signature problem, and nothing happens."""
    params = ringing.params(**extra)
    url = ringing.voice_url
    before = ringing.footprint()
    if signature == "other_token":
        signature = RequestValidator("another-accounts-token").compute_signature(
            url, params
        )
    if tamper == "params":
        signature = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(
            url, ringing.params()
        )
    if tamper == "url":
        signature = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(
            ringing.status_url, params
        )
    assert await ringing.post(url, params, signature=signature) == 403
    assert ringing.footprint() == before


async def test_signature_of_the_public_url_not_the_request_url(
    ringing: RingingCall,
) -> None:
    """A proxy may rewrite the URL; the signature is checked against the URL given to Twilio."""
    before = ringing.footprint()
    internal = ringing.voice_url.replace("127.0.0.1", "localhost")
    signed_for_internal = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(
        internal, ringing.params()
    )
    assert (
        await ringing.post(
            ringing.voice_url, ringing.params(), signature=signed_for_internal
        )
        == 403
    )
    assert ringing.footprint() == before


@pytest.mark.parametrize(
    "path", ["voice/not-a-token", "speech/whatever", "dance/x", "dance"]
)
async def test_unknown_tokens_and_endpoints(ringing: RingingCall, path: str) -> None:
    """Correctly signed requests to URLs never issued are 404."""
    base = ringing.status_url.removesuffix("status")
    before = ringing.footprint()
    assert await ringing.post(base + path, ringing.params()) == 404
    assert ringing.footprint() == before


async def test_unknown_call(ringing: RingingCall) -> None:
    """A call id that does not exist is 404."""
    url = ringing.voice_url.replace(ringing.active.session.call_id, "x" * 32)
    before = ringing.footprint()
    assert await ringing.post(url, ringing.params()) == 404
    assert ringing.footprint() == before


async def test_other_twilio_call(ringing: RingingCall) -> None:
    """A signed request with another CallSid is a second call of the same wake-up: hung up.

    An ambiguous Twilio error followed by a retry can place two calls carrying the
    same URLs. The first Twilio named is the call; the other one is hung up, once.
    """
    other = "CA" + "1" * 32
    session = ringing.active.session
    tokens = dict(session._tokens)
    for _ in range(2):
        assert await ringing.request(
            ringing.voice_url, ringing.params(CallSid=other)
        ) == (200, HANG_UP)
    assert await ringing.post(ringing.status_url, ringing.params(CallSid=other)) == 204
    await ringing.live.hass.async_block_till_done()
    hang_ups = [
        r
        for r in ringing.live.simulator.recorder.requests_to("twilio", f"Calls/{other}")
        if r.method == "POST"
    ]
    assert [r.data for r in hang_ups] == [{"Status": "completed"}]
    # Our own call is untouched: same Twilio call, same live URLs.
    assert session.call_sid == ringing.record.sid
    assert session._tokens == tokens


async def test_oversized_body(ringing: RingingCall) -> None:
    """Bodies over the limit are refused unread, with or without a Content-Length."""
    before = ringing.footprint()
    body = b"SpeechResult=" + b"a" * MAX_BODY_BYTES
    assert await ringing.post(ringing.voice_url, {}, body=body) == 413

    async def chunks() -> AsyncGenerator[bytes]:
        for _ in range(4):
            yield b"a" * (MAX_BODY_BYTES // 2)

    path = urlsplit(ringing.voice_url).path
    response = await ringing.live.client.post(path, data=chunks())
    assert response.status == 413
    assert ringing.footprint() == before


async def test_undecodable_body(ringing: RingingCall) -> None:
    """A body that cannot be decoded is refused with 400, not a server error; the URL still works."""
    before = ringing.footprint()
    response = await ringing.live.client.post(
        urlsplit(ringing.voice_url).path,
        data=b"not deflate data",
        headers={
            "Content-Encoding": "deflate",
            "Content-Type": "application/x-www-form-urlencoded",
            # aiohttp drops a connection whose body broke: the next request opens another.
            "Connection": "close",
        },
    )
    assert response.status == 400
    assert ringing.footprint() == before
    assert await ringing.post(ringing.voice_url, ringing.params()) == 200


async def test_status_callback_is_authenticated(ringing: RingingCall) -> None:
    """An unsigned "completed" cannot end the call; a signed one can."""
    params = ringing.params(CallStatus="completed", SequenceNumber="9")
    before = ringing.footprint()
    assert await ringing.post(ringing.status_url, params, signature=None) == 403
    assert ringing.footprint() == before
    assert ringing.live.sleeper.call_in_progress


async def test_finished_call_urls_are_gone(ringing: RingingCall) -> None:
    """Once the call has ended, its URLs change nothing: TwiML says hang up, callbacks are ignored."""
    live = ringing.live
    await live.hass.services.async_call(DOMAIN, "hang_up", {}, blocking=True)
    await ringing.record.done.wait()
    await live.wait_idle()
    result = live.hass.states.get("sensor.alice_last_call_result")
    assert result is not None
    assert result.state == "canceled"
    requests = len(live.simulator.recorder.requests)
    params = ringing.params(CallStatus="in-progress", SequenceNumber="99")
    assert await ringing.request(ringing.voice_url, params) == (200, HANG_UP)
    assert await ringing.post(ringing.status_url, params) == 204
    assert ringing.active.session.state is CallState.ENDED
    assert len(live.simulator.recorder.requests) == requests
    assert result == live.hass.states.get("sensor.alice_last_call_result")


async def test_machine_detection_verdict_once(ringing: RingingCall) -> None:
    """A replayed, signed "machine" verdict after the real one does not hang up the call."""
    amd_url = ringing.status_url.removesuffix("status") + "amd"
    assert await ringing.post(amd_url, ringing.params(AnsweredBy="human")) == 204
    requests = len(ringing.live.simulator.recorder.requests)
    assert (
        await ringing.post(amd_url, ringing.params(AnsweredBy="machine_start")) == 204
    )
    await ringing.live.hass.async_block_till_done()
    assert len(ringing.live.simulator.recorder.requests) == requests
    assert ringing.active.session.answered_by == "human"


async def test_an_error_does_not_end_the_call(
    ringing: RingingCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a turn is logged; Twilio still gets TwiML that keeps listening."""

    async def broken(answered_by: str | None) -> str:
        raise RuntimeError("bug")

    monkeypatch.setattr(ringing.active.handler, "answer", broken)
    path = urlsplit(ringing.voice_url).path
    params = ringing.params()
    signature = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(
        ringing.voice_url, params
    )
    response = await ringing.live.client.post(
        path, data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status == 200
    document = await response.text()
    assert "<Gather" in document
    assert "Sorry, I didn't quite get that" in document


async def test_replayed_status_callbacks_change_nothing(ringing: RingingCall) -> None:
    """Replayed status callbacks never move a call back.

    A replayed 'ringing' cannot take an answered call back, a replayed
    'in-progress' changes nothing, and a callback without a sequence number is
    ignored.
    """
    session = ringing.active.session
    # Twilio's own callbacks so far (initiated, ringing) used the first numbers.
    answered = ringing.params(CallStatus="in-progress", SequenceNumber="5")
    assert await ringing.post(ringing.status_url, answered) == 204
    assert session.state is CallState.IN_PROGRESS
    before = ringing.footprint()
    for params in (
        ringing.params(CallStatus="ringing", SequenceNumber="1"),
        answered,
        # The signature does not cover where one field ends: a sequence number moved
        # into the previous value still validates. Without one, nothing moves.
        ringing.params(CallStatus="ringing"),
        ringing.params(CallStatus="completed"),
    ):
        assert await ringing.post(ringing.status_url, params) == 204
    assert ringing.footprint() == before
    assert session.state is CallState.IN_PROGRESS


async def test_a_trickling_body_is_cut_off(
    ringing: RingingCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body sent a few bytes at a time cannot hold the request open."""
    monkeypatch.setattr(views, "BODY_DEADLINE_SECONDS", 0.3)
    before = ringing.footprint()

    async def trickle() -> AsyncGenerator[bytes]:
        for _ in range(20):
            yield b"a"
            await asyncio.sleep(0.1)

    path = urlsplit(ringing.voice_url).path
    response = await ringing.live.client.post(path, data=trickle())
    assert response.status == 408
    assert ringing.footprint() == before


async def test_forged_requests_warn_once_a_minute(
    ringing: RingingCall, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who learns a call id cannot flood the log with warnings."""
    caplog.set_level(logging.DEBUG)
    for _ in range(20):
        assert (
            await ringing.post(ringing.voice_url, ringing.params(), signature="x")
            == 403
        )
    rejected = [r for r in caplog.records if "Rejected a request" in r.getMessage()]
    assert [r.levelno for r in rejected] == [logging.WARNING] + [logging.DEBUG] * 19
