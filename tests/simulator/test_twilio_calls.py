"""The simulated Twilio: creating calls, their life, TwiML, status callbacks, errors."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
import pytest

from simulator.accounts import DEFAULT_ACCOUNT_SID, DEFAULT_FROM_NUMBER
from simulator.phone_network import APPLICATION_ERROR
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import SLEEPER, FakeIntegration, auth_header, create_call, place, twiml

GATHER = (
    '<Gather input="speech" action="/speech" speechTimeout="auto" timeout="5">'
    "<Say>Wake up!</Say></Gather><Say>Are you sleeping?</Say>"
)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ([("From", DEFAULT_FROM_NUMBER), ("Url", "http://x/")], 21201),
        ([("To", SLEEPER), ("Url", "http://x/")], 21603),
        (
            [
                (
                    "To",
                    "5550100",
                ),
                ("From", DEFAULT_FROM_NUMBER),
                ("Url", "http://x/"),
            ],
            21211,
        ),
        ([("To", SLEEPER), ("From", "+15559999999"), ("Url", "http://x/")], 21210),
        ([("To", SLEEPER), ("From", DEFAULT_FROM_NUMBER)], 21205),
        ([("To", SLEEPER), ("From", DEFAULT_FROM_NUMBER), ("Url", "ftp://x/")], 21205),
        (
            [
                ("To", SLEEPER),
                ("From", DEFAULT_FROM_NUMBER),
                ("Url", "http://x/"),
                ("StatusCallbackEvent", "exploded"),
            ],
            21626,
        ),
        (
            [
                ("To", SLEEPER),
                ("From", DEFAULT_FROM_NUMBER),
                ("Url", "http://x/"),
                ("Timeout", "soon"),
            ],
            21218,
        ),
    ],
)
async def test_create_call_validation(
    sim: Simulator, fields: list[tuple[str, str]], code: int
) -> None:
    """Invalid requests get Twilio's 400 and error code, and no call is placed."""
    status, body = await create_call(sim, fields)
    assert status == 400
    assert body["code"] == code
    assert not sim.network.calls


async def test_create_call_needs_credentials(sim: Simulator) -> None:
    """Wrong credentials get Twilio's 401 body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.base_url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json",
            data={"To": SLEEPER},
            headers={"Authorization": "Basic bm9wZTpub3Bl"},
        ) as response,
    ):
        assert response.status == 401
        assert (await response.json())["code"] == 20003


async def test_no_call_starts_after_stop(sim: Simulator, app: FakeIntegration) -> None:
    """A Calls.json still in flight when the simulator stops places no call that would outlive it."""
    sim.fail("twilio", "Calls.json", delay=0.3, status=None)
    request = asyncio.create_task(
        create_call(
            sim,
            [
                ("To", SLEEPER),
                ("From", DEFAULT_FROM_NUMBER),
                ("Url", app.url("/voice")),
            ],
        )
    )
    await asyncio.sleep(0.1)
    await sim.stop()
    await asyncio.gather(request, return_exceptions=True)
    assert all(call.record.done.is_set() for call in sim.network.calls.values())
    assert not [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("simulated call")
    ]
    assert not app.requests


async def test_whole_gather_call(sim: Simulator, app: FakeIntegration) -> None:
    """Ring, answer, signed TwiML requests, speech results, status callbacks in order."""

    async def voice(request: web.Request, form: dict[str, str]) -> web.Response:
        return twiml(GATHER)

    async def speech(request: web.Request, form: dict[str, str]) -> web.Response:
        if "goodbye" in form["SpeechResult"].lower():
            return twiml("<Say>Bye!</Say><Hangup/>")
        return twiml(GATHER)

    app.handlers |= {"/voice": voice, "/speech": speech, "/status": _ok}
    record = await place(sim, app)

    assert all(valid for _, _, valid in app.requests), "every request is signed"
    assert app.statuses() == ["initiated", "ringing", "in-progress", "completed"]
    speech_results = [
        form["SpeechResult"] for path, form, _ in app.requests if path == "/speech"
    ]
    assert speech_results == [line.text for line in SCRIPTS["wakes_quickly"].lines]  # type: ignore[union-attr]
    completed = next(
        form for path, form, _ in app.requests if form.get("CallStatus") == "completed"
    )
    assert int(completed["CallDuration"]) == record.duration > 0
    assert record.status == "completed"
    assert record.said("coach")[-1] == "Bye!"
    assert record.ended_by == "twiml"


async def test_silence_falls_through(sim: Simulator, app: FakeIntegration) -> None:
    """A silent sleeper: Gather times out and the next verb runs."""
    sim.network.scripts[SLEEPER] = SCRIPTS["silent"]
    app.handlers |= {"/voice": lambda r, f: _twiml(GATHER), "/status": _ok}
    record = await place(sim, app)
    assert not [path for path, _, _ in app.requests if path == "/speech"]
    assert record.said("coach") == ["Wake up!", "Are you sleeping?"]


@pytest.mark.parametrize(
    ("script", "status", "answered_by"),
    [
        ("never_answers", "no-answer", None),
        ("busy", "busy", None),
        ("voicemail", "completed", "machine_start"),
    ],
)
async def test_not_a_human(
    sim: Simulator,
    app: FakeIntegration,
    script: str,
    status: str,
    answered_by: str | None,
) -> None:
    """No answer and busy end before any TwiML; voicemail is reported by AMD."""
    sim.network.scripts[SLEEPER] = SCRIPTS[script]
    app.handlers |= {"/voice": lambda r, f: _twiml("<Hangup/>"), "/status": _ok}
    record = await place(
        sim, app, extra=[("MachineDetection", "Enable"), ("Timeout", "20")]
    )
    assert record.status == status
    assert app.statuses()[-1] == status
    voice_requests = [form for path, form, _ in app.requests if path == "/voice"]
    if answered_by:
        assert voice_requests[0]["AnsweredBy"] == answered_by
    else:
        assert not voice_requests


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (lambda r, f: _twiml("<Say>Hi</Say><Dance/>"), "12200"),
        (lambda r, f: _response("<Response><Say>Hi", "text/xml"), "12100"),
        (lambda r, f: _response("oops", "text/xml", 500), "11200"),
        (lambda r, f: _response("<Response/>", "text/plain"), "12300"),
        (
            lambda r, f: _twiml('<Connect><Stream url="https://x/y"/></Connect>'),
            "31922",
        ),
    ],
)
async def test_application_errors(
    sim: Simulator, app: FakeIntegration, handler: object, reason: str
) -> None:
    """Invalid TwiML or a failing webhook: Twilio's apology, a hang-up, and a record of it."""
    app.handlers |= {"/voice": handler, "/status": _ok}  # type: ignore[dict-item]
    record = await place(sim, app)
    assert record.application_error is not None
    assert record.application_error.startswith(reason)
    assert record.transcript[-1] == ("twilio", APPLICATION_ERROR)
    assert sim.recorder.events_named("application_error")[0]["sid"] == record.sid
    assert record.status == "completed"


async def test_slow_webhook_is_an_application_error(
    sim: Simulator, app: FakeIntegration
) -> None:
    """Twilio waits 15 s for TwiML, then gives up (shortened here)."""
    sim.webhook_timeout = 0.2

    async def slow(request: web.Request, form: dict[str, str]) -> web.Response:
        await asyncio.sleep(0.5)
        return twiml("<Hangup/>")

    app.handlers |= {"/voice": slow, "/status": _ok}
    record = await place(sim, app)
    assert record.application_error is not None
    assert record.application_error.startswith("11205")


async def test_rest_hang_up_and_redirect(sim: Simulator, app: FakeIntegration) -> None:
    """A REST redirect replaces the running TwiML; Status=completed ends the call."""
    sim.network.scripts[SLEEPER] = SCRIPTS["silent"]
    app.handlers |= {
        "/voice": lambda r, f: _twiml('<Pause length="600"/>'),
        "/other": lambda r, f: _twiml('<Say>Redirected.</Say><Pause length="600"/>'),
        "/status": _ok,
    }
    placed = asyncio.create_task(place(sim, app))
    while not sim.network.calls or not any(p == "/voice" for p, _, _ in app.requests):
        await asyncio.sleep(0.01)
    sid = next(iter(sim.network.calls))
    url = f"{sim.base_url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{sid}.json"
    async with aiohttp.ClientSession(headers=auth_header()) as session:
        async with session.post(url, data={"Url": app.url("/other")}) as response:
            assert response.status == 200
        while not any(p == "/other" for p, _, _ in app.requests):
            await asyncio.sleep(0.01)
        async with session.post(url, data={"Status": "completed"}) as response:
            assert (await response.json())["status"] == "completed"
        record = await placed
        async with session.post(url, data={"Url": app.url("/other")}) as response:
            assert (await response.json())["code"] == 21220
        async with session.post(
            url.replace(sid, "CA" + "0" * 32), data={"Status": "completed"}
        ) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 20404
    assert record.ended_by == "rest"
    assert "Redirected." in record.said("coach")
    assert app.statuses()[-1] == "completed"


async def test_time_limit(sim: Simulator, app: FakeIntegration) -> None:
    """TimeLimit ends a call that would go on forever."""
    app.handlers |= {
        "/voice": lambda r, f: _twiml('<Pause length="600"/>'),
        "/status": _ok,
    }
    record = await place(sim, app, extra=[("TimeLimit", "30")])
    assert record.ended_by == "time_limit"
    assert 29 <= record.duration <= 31


async def test_sleeper_hangs_up(sim: Simulator, app: FakeIntegration) -> None:
    """The hangs_up sleeper ends the call on its second turn."""
    sim.network.scripts[SLEEPER] = SCRIPTS["hangs_up"]
    app.handlers |= {
        "/voice": lambda r, f: _twiml(GATHER),
        "/speech": lambda r, f: _twiml(GATHER),
        "/status": _ok,
    }
    record = await place(sim, app)
    assert record.ended_by == "sleeper"
    assert record.said("sleeper") == ["Who is calling so early?"]


async def test_barge_in_interrupts_the_prompt(
    sim: Simulator, app: FakeIntegration
) -> None:
    """A barge-in sleeper talks a moment into the prompt instead of after it."""
    sim.network.scripts[SLEEPER] = SCRIPTS["talks_over"]
    long_prompt = "<Say>" + "wake up " * 40 + "</Say>"
    doc = f'<Gather input="speech" action="/speech">{long_prompt}</Gather>'
    app.handlers |= {
        "/voice": lambda r, f: _twiml(doc),
        "/speech": lambda r, f: _twiml("<Hangup/>"),
        "/status": _ok,
    }
    record = await place(sim, app)
    # A 80-word prompt takes 32 s; the call is far shorter because the sleeper cut in.
    assert record.duration < 15
    assert record.said("sleeper") == ["Yes yes, I hear you, I am awake!"]


async def test_proof_hooks_run(sim: Simulator, app: FakeIntegration) -> None:
    """A proof line runs the proof hooks before the sleeper speaks."""
    proofs: list[str] = []

    async def hook(record: object) -> None:
        proofs.append("up")

    sim.proof_hooks.append(hook)
    app.handlers |= {
        "/voice": lambda r, f: _twiml(GATHER),
        "/speech": lambda r, f: _twiml(GATHER),
        "/status": _ok,
    }
    record = await place(sim, app)
    assert proofs == ["up"]
    assert record.proofs == 1


async def _ok(request: web.Request, form: dict[str, str]) -> web.Response:
    return web.Response()


async def _twiml(body: str) -> web.Response:
    return twiml(body)


async def _response(text: str, content_type: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type=content_type, status=status)
