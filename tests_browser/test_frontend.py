"""What a person does in Home Assistant's frontend, step by step, in one browser tab.

The steps depend on each other (the entry the second test adds is the one the
sleeper goes into) and run in file order; each asserts one outcome. Every step also
checks that no translation key of ours shows instead of its text.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Page, expect
import pytest
import yaml

from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)
from simulator.ha_bootstrap import (
    ONLINE_ONLY_DOMAINS,
    PASSWORD,
    PHONE_USER_NAME,
    PROOF_ENTITY,
    SLEEPER_NUMBER,
    USERNAME,
    HomeAssistantApi,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import REPO, ConsoleErrors, en, screenshot

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARD = REPO / "docs" / "dashboard" / "sleeper-card.yaml"
SLEEPER = "config_subentries.sleeper.step.user"
# Home Assistant 2026 puts a device's area in front of its entities' IDs when the
# device is made in an area: the sleeper form's Bedroom shows in every ID.
ENTITY = "bedroom_alice"
GERMAN = re.compile(r"^(Deutsch \(Deutschland\)|German \(Germany\))$")
# Field errors of a data entry flow: field name -> the error shown above that field.
FIELD_ERRORS_JS = """() => {
  const out = {};
  const visit = (root) => {
    for (const form of root.querySelectorAll('ha-form')) {
      const inner = form.shadowRoot && form.shadowRoot.querySelector('.root');
      for (const alert of inner ? inner.querySelectorAll(':scope > ha-alert') : []) {
        const field = alert.nextElementSibling;
        out[field?.schema?.name ?? field?.name ?? 'base'] = alert.textContent.trim();
      }
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(document);
  return out;
}"""


async def untranslated(page: Page) -> None:
    """No key of ours is on screen instead of its text."""
    await expect(
        page.get_by_text(re.compile(r"component\.wakeup_coach\."))
    ).to_have_count(0)


async def field_errors(page: Page, count: int) -> dict[str, str]:
    """The errors shown on the form's fields, once `count` of them are there."""
    await expect(page.locator("ha-form").locator("ha-alert")).to_have_count(count)
    return dict(await page.evaluate(FIELD_ERRORS_JS))


def textbox(page: Page, label: str) -> Any:
    """A text field of the open dialog, by its translated label."""
    return page.locator("dialog-data-entry-flow").get_by_role("textbox", name=label)


async def test_log_in(page: Page, home_assistant: HomeAssistantApi) -> None:
    """The login page takes the development instance's user to the overview."""
    await page.goto(home_assistant.url)
    await page.get_by_label("Username").fill(USERNAME)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(
        page.get_by_role("button", name="Settings").or_(
            page.get_by_text("Settings", exact=True)
        )
    ).to_be_visible()


async def test_wrong_credentials_show_on_their_fields(
    page: Page, home_assistant: HomeAssistantApi, simulator: Simulator
) -> None:
    """Add integration: each wrong credential is named above its own field."""
    await page.goto(f"{home_assistant.url}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await page.locator("dialog-add-integration ha-input-search input").fill("Wake-up")
    await page.get_by_text("Wake-up Coach", exact=True).click()
    step = "config.step.user"
    await textbox(page, en(f"{step}.data.account_sid")).fill(DEFAULT_ACCOUNT_SID)
    await textbox(page, en(f"{step}.data.auth_token")).fill("wrong-token")
    await textbox(page, en(f"{step}.data.from_number")).fill("12345")
    await textbox(page, en(f"{step}.data.openai_api_key")).fill("sk-wrong-key")
    await page.get_by_role("button", name=en(f"{step}.sections.advanced.name")).click()
    advanced = f"{step}.sections.advanced.data"
    await textbox(page, en(f"{advanced}.openai_base_url")).fill(
        simulator.openai_base_url
    )
    await textbox(page, en(f"{advanced}.twilio_base_url")).fill(
        simulator.twilio_base_url
    )
    await screenshot(page, "setup_form")
    await page.get_by_role("button", name="Submit").click()
    errors = await field_errors(page, 3)
    await untranslated(page)
    await screenshot(page, "setup_form_errors")
    assert errors == {
        "auth_token": en("config.error.twilio_invalid_auth"),
        "from_number": en("config.error.invalid_phone_format"),
        "openai_api_key": en("config.error.openai_invalid_auth"),
    }


async def test_advanced_section_stays_open_after_errors(page: Page) -> None:
    """The simulator's base URLs are still in view after the errors."""
    field = textbox(page, en("config.step.user.sections.advanced.data.twilio_base_url"))
    await expect(field).to_be_visible()


async def test_right_credentials_create_the_entry(page: Page) -> None:
    """Corrected, the account is checked against the simulator and the entry made."""
    step = "config.step.user"
    await textbox(page, en(f"{step}.data.auth_token")).fill(DEFAULT_AUTH_TOKEN)
    await textbox(page, en(f"{step}.data.from_number")).fill(DEFAULT_FROM_NUMBER)
    await textbox(page, en(f"{step}.data.openai_api_key")).fill(DEFAULT_OPENAI_KEY)
    await page.get_by_role("button", name="Submit").click()
    await finish(page)
    # The entry, and its account device, are named after the caller-ID's last digits.
    await expect(
        page.get_by_text(f"Wake-up Coach …{DEFAULT_FROM_NUMBER[-4:]}").first
    ).to_be_visible()


async def finish(page: Page) -> None:
    """Close the flow's last dialog (newer versions offer to name the devices first)."""
    await page.get_by_role(
        "button", name=re.compile(r"^(Finish|Skip and finish)$")
    ).click()


async def test_integration_page_offers_account_and_sleeper(
    page: Page, home_assistant: HomeAssistantApi
) -> None:
    """Beside "Add sleeper" the other button adds an account, not a "service"."""
    await page.goto(
        f"{home_assistant.url}/config/integrations/integration/wakeup_coach"
    )
    await expect(
        page.get_by_role("button", name=en("config.initiate_flow.user"), exact=True)
    ).to_be_visible()


async def test_bad_number_and_voice_show_on_their_fields(page: Page) -> None:
    """A number without country code and an English voice for German are refused."""
    await page.get_by_role(
        "button", name=en("config_subentries.sleeper.initiate_flow.user")
    ).click()
    await textbox(page, en(f"{SLEEPER}.data.name")).fill("Alice")
    await textbox(page, en(f"{SLEEPER}.data.phone_number")).fill("12345")
    await page.get_by_text(en(f"{SLEEPER}.data.area_id"), exact=True).click()
    await page.get_by_text("Bedroom", exact=True).click()
    await page.get_by_text("American English", exact=True).click()
    await page.get_by_text(GERMAN).click()
    await page.locator("ha-entities-picker ha-picker-field").click()
    await page.locator("ha-entities-picker ha-input-search input").fill(
        "Alice out of bed"
    )
    await page.get_by_text("Alice out of bed", exact=True).click()
    await page.get_by_role("button", name="Submit").click()
    errors = await field_errors(page, 2)
    await untranslated(page)
    await screenshot(page, "sleeper_form_errors")
    assert errors == {
        "phone_number": en("config_subentries.sleeper.error.invalid_phone_format"),
        "voice": en("config_subentries.sleeper.error.voice_language_mismatch").format(
            voice_language="en-US",
            language="de-DE",
            example_voice="Google.de-DE-Chirp3-HD-Aoede",
        ),
    }


async def test_good_number_adds_the_sleeper(
    page: Page, home_assistant: HomeAssistantApi
) -> None:
    """With a right number and a German voice, the sleeper's device appears."""
    await textbox(page, en(f"{SLEEPER}.data.phone_number")).fill(SLEEPER_NUMBER)
    await textbox(page, en(f"{SLEEPER}.data.voice")).fill(
        "Google.de-DE-Chirp3-HD-Aoede"
    )
    await page.get_by_role("button", name="Submit").click()
    await finish(page)
    await page.goto(f"{home_assistant.url}/config/devices/dashboard")
    await expect(page.get_by_text("Alice", exact=True)).to_be_visible()


async def test_device_page_in_its_area(page: Page) -> None:
    """The device page shows the sleeper in the area chosen in the form."""
    await page.get_by_text("Alice", exact=True).click()
    await expect(page.get_by_text("Bedroom")).to_be_visible()
    await untranslated(page)
    await screenshot(page, "device_page")


def row(page: Page, tag: str, name_key: str) -> Any:
    """An entity row of the device page, by its kind and translated name."""
    return page.locator(tag, has_text=en(name_key))


async def test_realtime_switch_turns_on(
    page: Page, home_assistant: HomeAssistantApi
) -> None:
    """The device page's switch allows live calls."""
    switch = row(page, "hui-toggle-entity-row", "entity.switch.realtime_allowed.name")
    await switch.locator("ha-switch").click()
    await expect_state(home_assistant, f"switch.{ENTITY}_realtime_calls_allowed", "on")


async def test_probability_slider_moves(
    page: Page, home_assistant: HomeAssistantApi
) -> None:
    """The slider goes to 0 %, so that Call now places a turn-based call."""
    number = row(
        page, "hui-number-entity-row", "entity.number.realtime_probability.name"
    )
    await number.get_by_role("slider").focus()
    await page.keyboard.press("Home")
    await expect_state(home_assistant, f"number.{ENTITY}_realtime_probability", "0.0")


async def test_call_now_shows_the_call_in_progress(
    page: Page, simulator: Simulator
) -> None:
    """Call now: Call in progress turns on while the phone rings and talks."""
    simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["sleepy"]
    button = row(page, "hui-button-entity-row", "entity.button.call_now.name")
    await button.get_by_role("button").click()
    in_progress = row(
        page, "hui-simple-entity-row", "entity.binary_sensor.call_in_progress.name"
    )
    await expect(in_progress).to_contain_text(
        en("entity.binary_sensor.call_in_progress.state.on")
    )
    await in_progress.scroll_into_view_if_needed()
    await screenshot(page, "call_in_progress")


async def test_call_ends_awake(page: Page) -> None:
    """The simulated sleeper gets up: Last call result becomes Awake."""
    result = row(page, "hui-sensor-entity-row", "entity.sensor.last_call_result.name")
    await expect(result).to_contain_text(
        en("entity.sensor.last_call_result.state.awake"), timeout=120_000
    )
    await untranslated(page)


async def test_dashboard_card_renders(
    page: Page, home_assistant: HomeAssistantApi
) -> None:
    """The README's card shows the sleeper's controls, in a dashboard of its own."""
    # As the card's comment says: its "alice" becomes the sleeper's entity IDs.
    card = yaml.safe_load(
        CARD.read_text(encoding="utf-8").replace(".alice_", f".{ENTITY}_")
    )
    await home_assistant.command(
        {
            "type": "lovelace/dashboards/create",
            "url_path": "wake-up",
            "title": "Wake-up",
            "icon": "mdi:alarm",
            "mode": "storage",
            "show_in_sidebar": True,
            "require_admin": False,
        }
    )
    await home_assistant.command(
        {
            "type": "lovelace/config/save",
            "url_path": "wake-up",
            "config": {"views": [{"title": "Alice", "cards": [card]}]},
        }
    )
    await page.goto(f"{home_assistant.url}/wake-up/0")
    await expect(page.locator("hui-tile-card")).to_have_count(8)
    await expect(page.get_by_text("Entity not found")).to_have_count(0)
    await untranslated(page)
    await screenshot(page, "dashboard")


async def test_options_flow_opens(page: Page, home_assistant: HomeAssistantApi) -> None:
    """The entry's options open with their translated title."""
    await page.goto(
        f"{home_assistant.url}/config/integrations/integration/wakeup_coach"
    )
    await page.get_by_role("button", name="Configure").first.click()
    await expect(page.get_by_text(en("options.step.init.title"))).to_be_visible()
    await untranslated(page)
    await screenshot(page, "options")


async def test_no_console_errors(console_errors: ConsoleErrors) -> None:
    """Nothing of ours made the frontend log an error."""
    assert console_errors.ours() == []


async def test_no_failed_login_notification(home_assistant: HomeAssistantApi) -> None:
    """Starting and logging in left no "Login attempt failed" notification."""
    notifications = await home_assistant.command(
        {"type": "persistent_notification/get"}
    )
    assert "http-login" not in {n["notification_id"] for n in notifications}


async def test_no_online_only_integration_fails(
    home_assistant: HomeAssistantApi,
) -> None:
    """No integration that needs the internet is left failing."""
    entries = await home_assistant.request("GET", "/api/config/config_entries/entry")
    assert {
        (entry["domain"], entry["state"])
        for entry in entries
        if entry["domain"] in ONLINE_ONLY_DOMAINS or entry["state"] != "loaded"
    } == set()


async def test_proof_by_alices_phone(home_assistant: HomeAssistantApi) -> None:
    """The call's proof was made by the simulator's own user, not the developer."""
    proof = await home_assistant.request("GET", f"/api/states/{PROOF_ENTITY}")
    users = await home_assistant.command({"type": "config/auth/list"})
    by_id = {user["id"]: user["name"] for user in users}
    assert by_id[proof["context"]["user_id"]] == PHONE_USER_NAME


async def expect_state(api: HomeAssistantApi, entity_id: str, state: str) -> None:
    """Wait (up to 20 s) until the entity has the state."""
    async with asyncio.timeout(20):
        while (await api.request("GET", f"/api/states/{entity_id}"))["state"] != state:
            await asyncio.sleep(0.2)
