"""A real `hass` (as scripts/develop starts it) with only a user, the simulator, and Chromium.

Runs without pytest-homeassistant-custom-component (-p no:homeassistant), in the browser
environment (requirements/browser.txt): Playwright drives Debian's chromium, never a
browser of its own. Home Assistant is onboarded through its API (the user "dev") and
nothing else: the tests add Wake-up Coach and the sleeper through the frontend.
Screenshots go to .cache/screenshots/ (scripts/screenshots copies the best to docs/).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import os
from pathlib import Path
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

from simulator.ha_bootstrap import HomeAssistantApi
from simulator.hass_process import TOKEN_FILE, fresh_config_dir, hass_process
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
    return fresh_config_dir(tmp_path_factory.mktemp("browser"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def home_assistant(
    config_dir: Path, simulator: Simulator
) -> AsyncGenerator[HomeAssistantApi]:
    """A real `hass` on a free port: onboarded (user dev), no Wake-up Coach entry yet."""
    async with hass_process(config_dir, simulator) as url:
        api = HomeAssistantApi(simulator.session, url)
        await api.wait_until_up(STARTUP_SECONDS)
        await api.onboard_or_login()
        (config_dir / TOKEN_FILE).write_text(await api.phone_token(), encoding="utf-8")
        yield api


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
