"""Start `hass` like scripts/develop does, wire it to the simulator, and place a whole call.

Real processes and sockets only: Home Assistant runs as a subprocess with the
repository's config/configuration.yaml on a free port (as with WAKEUP_DEVELOP_PORT),
is onboarded and configured through its own HTTP API, and the call action is invoked
through HA's REST API. The simulator runs in this process so the test can see what
Twilio and OpenAI would have seen. One instance serves every test of this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
import ipaddress
from pathlib import Path
import socket
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from simulator.ha_bootstrap import (
    ONLINE_ONLY_DOMAINS,
    PHONE_USER_NAME,
    PROOF_ENTITY,
    SLEEPER_NUMBER,
    HomeAssistantApi,
    bootstrap,
    turn_on_proof,
)
from simulator.hass_process import TOKEN_FILE, fresh_config_dir, hass_process
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 240

pytestmark = pytest.mark.asyncio(loop_scope="module")


def outward_address() -> str | None:
    """The machine's address on its network (not loopback), if it has one."""
    for family, probe in (
        (socket.AF_INET, "192.0.2.1"),
        (socket.AF_INET6, "2001:db8::1"),
    ):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))  # UDP: picks a route, sends nothing
            except OSError:
                continue
            address = str(sock.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulator() -> AsyncGenerator[Simulator]:
    """The simulator, ten times faster than real time."""
    sim = Simulator(speed=10)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the development instance's configuration."""
    return fresh_config_dir(tmp_path_factory.mktemp("develop"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home_assistant(
    config_dir: Path, simulator: Simulator
) -> AsyncGenerator[HomeAssistantApi]:
    """A real `hass` process on a free port, bootstrapped against the simulator."""
    async with hass_process(config_dir, simulator) as url:
        api = await bootstrap(
            url, simulator.base_url, config_dir / TOKEN_FILE, within=STARTUP_SECONDS
        )
        yield api
        await api.session.close()


async def test_call_through_the_rest_api(
    home_assistant: HomeAssistantApi, simulator: Simulator
) -> None:
    """The call action reaches the simulated Twilio, and the whole call completes awake."""
    api = home_assistant
    simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["sleepy"]
    placed = simulator.network.expect_call()
    await api.request("POST", "/api/services/wakeup_coach/call", json={})
    record = await asyncio.wait_for(placed, 30)

    creates = simulator.recorder.requests_to("twilio", "/Calls.json")
    assert creates[0].method == "POST"
    assert creates[0].status == 201
    assert creates[0].data["To"] == SLEEPER_NUMBER

    await asyncio.wait_for(record.done.wait(), 120)
    assert record.status == "completed"
    assert record.application_error is None
    assert record.said("sleeper")[-1] == "I'm up. Goodbye."
    async with asyncio.timeout(30):
        while True:
            state = await api.request(
                "GET", "/api/states/sensor.alice_last_call_result"
            )
            if state["state"] != "unknown":
                break
            await asyncio.sleep(0.2)
    assert state["state"] == "awake"
    proof = await api.request("GET", f"/api/states/{PROOF_ENTITY}")
    assert proof["state"] == "on"


async def test_realtime_call_from_the_dashboard(
    home_assistant: HomeAssistantApi, simulator: Simulator
) -> None:
    """Realtime allowed at 100 %, Call now: a whole live call over the Media Stream, awake."""
    api = home_assistant
    simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    await api.request(
        "POST",
        "/api/services/switch/turn_on",
        json={"entity_id": "switch.alice_realtime_calls_allowed"},
    )
    await api.request(
        "POST",
        "/api/services/number/set_value",
        json={"entity_id": "number.alice_realtime_probability", "value": 100},
    )
    placed = simulator.network.expect_call()
    await api.request(
        "POST",
        "/api/services/button/press",
        json={"entity_id": "button.alice_call_now"},
    )
    record = await asyncio.wait_for(placed, 30)
    await asyncio.wait_for(record.done.wait(), 120)
    assert record.status == "completed"
    assert record.application_error is None
    assert len(record.stream_sids) == 1  # the call was live
    assert simulator.recorder.events_named("realtime_connected")
    assert record.said("sleeper")[-1] == "Thanks, goodbye!"
    async with asyncio.timeout(30):
        while (
            await api.request("GET", "/api/states/binary_sensor.alice_call_in_progress")
        )["state"] != "off":
            await asyncio.sleep(0.2)
    state = await api.request("GET", "/api/states/sensor.alice_last_call_result")
    assert state["state"] == "awake"


async def test_sip_call_through_the_rest_api(
    home_assistant: HomeAssistantApi, simulator: Simulator
) -> None:
    """A live call over SIP: no WebSocket into Home Assistant, no audio through it.

    Twilio dials OpenAI, whose signed webhook reaches HA's own webhook; HA accepts
    and steers over the sideband.
    """
    api = home_assistant
    simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = simulator.network.expect_call()
    response = await api.request(
        "POST",
        "/api/services/wakeup_coach/call?return_response",
        json={"mode": "realtime", "engine": "realtime", "transport": "sip"},
    )
    assert response["service_response"]["transport"] == "sip"
    record = await asyncio.wait_for(placed, 30)
    await asyncio.wait_for(record.done.wait(), 120)
    assert record.status == "completed"
    assert record.application_error is None
    assert record.stream_sids == []  # no WebSocket into Home Assistant
    assert record.dials[-1]["DialCallStatus"] == "completed"
    assert [e["status"] for e in simulator.recorder.events_named("sip_webhook")][
        -2:
    ] == [200, 200]
    assert simulator.recorder.events_named("sip_accepted")[-1]["engine"] == "realtime"
    assert record.said("sleeper")[-1] == "Thanks, goodbye!"
    async with asyncio.timeout(30):
        while (
            await api.request("GET", "/api/states/binary_sensor.alice_call_in_progress")
        )["state"] != "off":
            await asyncio.sleep(0.2)
    state = await api.request("GET", "/api/states/sensor.alice_last_call_result")
    assert state["state"] == "awake"


async def test_proof_comes_from_alices_phone(
    home_assistant: HomeAssistantApi, config_dir: Path, simulator: Simulator
) -> None:
    """The simulator's proof is made by a user of its own, no administrator, not by `dev`."""
    api = home_assistant
    await api.request(
        "POST", "/api/services/input_boolean/turn_off", json={"entity_id": PROOF_ENTITY}
    )
    await turn_on_proof(
        simulator.session, api.url, config_dir / TOKEN_FILE, PROOF_ENTITY
    )
    proof = await api.request("GET", f"/api/states/{PROOF_ENTITY}")
    users = await api.command({"type": "config/auth/list"})
    by_id = {user["id"]: user for user in users}
    who = by_id[proof["context"]["user_id"]]
    assert (who["name"], who["group_ids"]) == (PHONE_USER_NAME, ["system-users"])


async def test_listens_on_loopback_only(home_assistant: HomeAssistantApi) -> None:
    """The published login only works from this machine: HA refuses its network address."""
    if (address := outward_address()) is None:
        pytest.skip("this machine has no network address besides loopback")
    port = int(home_assistant.url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=10).close()


async def test_external_url_follows_the_port(home_assistant: HomeAssistantApi) -> None:
    """Twilio (the simulator) is told the port HA really listens on."""
    config = await home_assistant.request("GET", "/api/config")
    assert config["external_url"] == home_assistant.url


async def test_no_failed_login_on_start(home_assistant: HomeAssistantApi) -> None:
    """Waiting for HA and logging in leave no "Login attempt failed" notification."""
    notifications = await home_assistant.command(
        {"type": "persistent_notification/get"}
    )
    assert "http-login" not in {n["notification_id"] for n in notifications}


async def test_nothing_needs_the_internet(home_assistant: HomeAssistantApi) -> None:
    """What onboarding adds that needs the internet is gone, and no integration fails."""
    entries = await home_assistant.request("GET", "/api/config/config_entries/entry")
    assert {
        (entry["domain"], entry["state"])
        for entry in entries
        if entry["domain"] in ONLINE_ONLY_DOMAINS or entry["state"] != "loaded"
    } == set()


async def test_an_alarm_a_minute_ahead_rings_alice(
    home_assistant: HomeAssistantApi, simulator: Simulator
) -> None:
    """Alarm on, set a minute ahead: *Next alarm* shows it, and at that time Alice's phone rings."""
    api = home_assistant
    simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    zone = ZoneInfo((await api.request("GET", "/api/config"))["time_zone"])
    at = (datetime.now(zone) + timedelta(seconds=70)).replace(microsecond=0)
    await api.request(
        "POST",
        "/api/services/time/set_value",
        json={"entity_id": "time.alice_alarm_time", "time": at.strftime("%H:%M:%S")},
    )
    await api.request(
        "POST", "/api/services/switch/turn_on", json={"entity_id": "switch.alice_alarm"}
    )

    async def next_alarm() -> datetime | None:
        state = await api.request("GET", "/api/states/sensor.alice_next_alarm")
        try:
            return datetime.fromisoformat(state["state"])
        except ValueError:  # unknown
            return None

    async with asyncio.timeout(10):
        while await next_alarm() != at:
            await asyncio.sleep(0.2)
    placed = simulator.network.expect_call()
    record = await asyncio.wait_for(placed, 120)
    rang = datetime.now(zone)
    assert at <= rang < at + timedelta(seconds=10)
    await asyncio.wait_for(record.done.wait(), 120)
    assert record.status == "completed"
    assert record.application_error is None
    async with asyncio.timeout(30):
        while (
            await api.request("GET", "/api/states/binary_sensor.alice_call_in_progress")
        )["state"] != "off":
            await asyncio.sleep(0.2)
    # The call's result, fired as it ended: after `at` (earlier calls ended awake too).
    event = await api.request("GET", "/api/states/event.alice_wake_up")
    assert datetime.fromisoformat(event["state"]) >= at
    assert event["attributes"]["event_type"] == "awake"
    await api.request(
        "POST",
        "/api/services/switch/turn_off",
        json={"entity_id": "switch.alice_alarm"},
    )
