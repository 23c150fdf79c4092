"""Start `hass` like scripts/develop does, wire it to the simulator, and place a whole call.

Real processes and sockets only: Home Assistant runs as a subprocess with the
repository's config/configuration.yaml (ports moved to free ones), is onboarded
and configured through its own HTTP API, and the call action is invoked through
HA's REST API. The simulator runs in this process so the test can see what
Twilio and OpenAI would have seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from pathlib import Path
import shutil
import socket
import sys

import pytest

from simulator.ha_bootstrap import (
    PROOF_ENTITY,
    SLEEPER_NUMBER,
    HomeAssistantApi,
    bootstrap,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 240


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def simulator() -> AsyncGenerator[Simulator]:
    """The simulator, ten times faster than real time."""
    sim = Simulator(speed=10)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def home_assistant(
    tmp_path: Path, simulator: Simulator
) -> AsyncGenerator[HomeAssistantApi]:
    """A real `hass` process on a free port, bootstrapped against the simulator."""
    port = free_port()
    config = tmp_path / "config"
    config.mkdir()
    yaml = (REPO / "config" / "configuration.yaml").read_text(encoding="utf-8")
    yaml = yaml.replace("http://127.0.0.1:8123", f"http://127.0.0.1:{port}")
    yaml += f"\nhttp:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
    (config / "configuration.yaml").write_text(yaml, encoding="utf-8")
    (config / "automations.yaml").write_text("[]\n", encoding="utf-8")
    hass_bin = shutil.which("hass") or str(Path(sys.executable).with_name("hass"))
    log = (tmp_path / "hass.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        hass_bin, "--config", str(config), "--skip-pip",
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    token_file = config / ".simulator_token"

    async def prove(record: object) -> None:
        async with api.session.post(
            f"{api.url}/api/services/input_boolean/turn_on",
            json={"entity_id": PROOF_ENTITY},
            headers={
                "Authorization": f"Bearer {token_file.read_text(encoding='utf-8')}"
            },
        ) as response:
            assert response.status == 200

    simulator.proof_hooks.append(prove)
    try:
        api = await bootstrap(
            f"http://127.0.0.1:{port}",
            simulator.base_url,
            token_file,
            within=STARTUP_SECONDS,
        )
        yield api
        await api.session.close()
    except BaseException:
        log.flush()
        sys.stderr.write(
            (tmp_path / "hass.log").read_text(encoding="utf-8", errors="replace")[
                -5000:
            ]
        )
        raise
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


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
