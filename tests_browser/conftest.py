"""A real `hass` (as scripts/develop starts it) with only a user, the simulator, and Chromium.

Runs without pytest-homeassistant-custom-component (-p no:homeassistant), in the browser
environment (requirements/browser.txt): Playwright drives Debian's chromium, never a
browser of its own. Home Assistant is onboarded through its API (the user "dev") and
nothing else: the tests add Wake-up Coach and the sleeper through the frontend.
Screenshots go to .cache/screenshots/ (scripts/screenshots copies the best to docs/).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json
import os
from pathlib import Path
import shutil
import socket
import sys
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error as PlaywrightError,
    Page,
    async_playwright,
    expect,
)
import pytest
import pytest_asyncio

from simulator.ha_bootstrap import (
    PROOF_ENTITY,
    HomeAssistantApi,
    turn_on_proof,
    write_http_config,
)
from simulator.server import Simulator

# A flow's checks and an entry's setup take seconds against the simulator, not 5.
expect.set_options(timeout=20_000)

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("WAKEUP_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / ".cache" / "screenshots"
STARTUP_SECONDS = 240
VIEWPORT = {"width": 1280, "height": 860}
EN = json.loads(
    (REPO / "custom_components/wakeup_coach/translations/en.json").read_text("utf-8")
)


def en(path: str) -> str:
    """The English string at a dotted path of en.json (what the page must show)."""
    node: Any = EN
    for key in path.split("."):
        node = node[key]
    assert isinstance(node, str)
    return node


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def simulator() -> AsyncGenerator[Simulator]:
    """The simulator, a little faster than real time (a call still lasts seconds)."""
    sim = Simulator(speed=4)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the development instance's configuration."""
    config = tmp_path_factory.mktemp("browser") / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "configuration.yaml", config)
    (config / "automations.yaml").write_text("[]\n", encoding="utf-8")
    return config


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def home_assistant(
    config_dir: Path, simulator: Simulator
) -> AsyncGenerator[HomeAssistantApi]:
    """A real `hass` on a free port: onboarded (user dev), no Wake-up Coach entry yet."""
    url = f"http://127.0.0.1:{free_port()}"
    write_http_config(config_dir, url)
    hass_bin = shutil.which("hass") or str(Path(sys.executable).with_name("hass"))
    log_path = config_dir.parent / "hass.log"
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        hass_bin, "--config", str(config_dir),
        env={**os.environ, "PYTHONPATH": str(REPO), "WAKEUP_DEVELOP_URL": url},
        stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    token_file = config_dir / ".simulator_token"

    async def prove(record: object) -> None:
        assert (
            await turn_on_proof(simulator.session, url, token_file, PROOF_ENTITY) == 200
        )

    simulator.proof_hooks.append(prove)
    api = HomeAssistantApi(simulator.session, url)
    try:
        await api.wait_until_up(STARTUP_SECONDS)
        await api.onboard_or_login()
        token_file.write_text(await api.phone_token(), encoding="utf-8")
        yield api
    except BaseException:
        log.flush()
        sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace")[-5000:])
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


class ConsoleErrors(list[str]):
    """What the page wrote to the console as errors, and the exceptions it raised."""

    def listen(self, page: Page) -> None:
        """Collect from this page."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.append(f"{message.text} ({message.location.get('url', '')})")

    def ours(self) -> list[str]:
        """All but what the frontend logs whatever the integration.

        Other integrations' brand icons: Home Assistant fetches brand images from the
        internet, which is not there. "disconnected": the frontend's virtualised
        lists (lit-virtualizer) reject their layout promise with exactly this when a
        list is removed before it was laid out, as when a test picks from a dropdown
        faster than a person would.
        """
        return [
            error
            for error in self
            if error != "page error: disconnected"
            and not (
                error.startswith("Failed to load resource")
                and "/api/brands/" in error
                and "/wakeup_coach/" not in error
            )
        ]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncGenerator[Browser]:
    """Debian's chromium, headless."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def context(
    browser: Browser, home_assistant: HomeAssistantApi
) -> AsyncGenerator[BrowserContext]:
    """One browser profile for the whole run, in English, offline but for HA."""
    context = await browser.new_context(
        viewport=VIEWPORT, locale="en-US", timezone_id="Europe/London"
    )
    context.set_default_timeout(20_000)

    async def offline(route: Any) -> None:  # no internet here: fail fast
        await route.abort("internetdisconnected")

    await context.route(lambda url: not url.startswith(home_assistant.url), offline)
    yield context
    await context.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def console_errors() -> ConsoleErrors:
    """Console errors of every page of the run."""
    return ConsoleErrors()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def page(
    context: BrowserContext, console_errors: ConsoleErrors
) -> AsyncGenerator[Page]:
    """The one tab the tests walk through, like a person would."""
    page = await context.new_page()
    console_errors.listen(page)
    yield page
    await page.close()


async def screenshot(page: Page, name: str) -> None:
    """Save what the page shows as .cache/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled")
    except PlaywrightError as err:  # a screenshot is no test
        sys.stderr.write(f"screenshot {name} failed: {err}\n")
