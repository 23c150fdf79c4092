"""Wire a fresh Home Assistant to the simulator, the way a newcomer would by hand.

Used by scripts/develop and by the smoke test: it onboards a local user, adds the
Wake-up Coach entry pointed at the simulator and one sleeper, and leaves the simulator
a long-lived token of a user of its own, "Alice's phone (simulator)", which turns the
sleeper's input_boolean on for her proof. Everything goes through Home Assistant's own
HTTP and WebSocket APIs, except the HTTP server's address, which Home Assistant reads
before it starts (--write-http-config).

    python -m simulator.ha_bootstrap --ha-url http://127.0.0.1:8123 --write-http-config config
    python -m simulator.ha_bootstrap --ha-url http://127.0.0.1:8123 --sim-url http://127.0.0.1:8124
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import json
import logging
from pathlib import Path
import secrets
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)

LOGGER = logging.getLogger("simulator.bootstrap")

# The development instance's login; documented in the README.
USERNAME = "dev"
PASSWORD = "wakeup-coach"
SLEEPER_NAME = "Alice"
SLEEPER_NUMBER = "+15550100111"
PROOF_ENTITY = "input_boolean.alice_out_of_bed"
CALL_BUTTON = "button.alice_call_now"
# Who turns the proof on: Alice's phone, a user of its own that is no administrator.
PHONE_USER_NAME = "Alice's phone (simulator)"
PHONE_USERNAME = "alice-phone-simulator"
# What onboarding adds that needs the internet: an offline instance would only log
# their failures (met only adds itself when the home has a location).
ONLINE_ONLY_DOMAINS = ("google_translate", "met", "radio_browser")


class BootstrapError(Exception):
    """Home Assistant did not accept a step."""


def write_http_config(config_dir: Path, ha_url: str) -> None:
    """Make Home Assistant listen on ha_url's address and port only, from its next start.

    Home Assistant keeps its HTTP server's settings in .storage/http and reads an
    http: block of configuration.yaml only once, to migrate it. So they are written
    there, before each start, in the store's first format (the settings alone),
    which Home Assistant migrates on loading, filling in its defaults.
    """
    url = urlsplit(ha_url)
    if url.hostname is None or url.port is None:
        msg = f"{ha_url} names no host and port"
        raise ValueError(msg)
    store = config_dir / ".storage" / "http"
    store.parent.mkdir(parents=True, exist_ok=True)
    settings = {"server_host": [url.hostname], "server_port": url.port}
    _write_secret(
        store,
        json.dumps({"version": 1, "minor_version": 1, "key": "http", "data": settings}),
    )


@dataclass
class HomeAssistantApi:
    """A logged-in client of Home Assistant's REST and WebSocket APIs."""

    session: aiohttp.ClientSession
    url: str
    token: str = ""

    @property
    def client_id(self) -> str:
        """OAuth client id: the instance's own URL, as the frontend uses."""
        return f"{self.url}/"

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON answer of an API call; raises BootstrapError on an HTTP error."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, f"{self.url}{path}", headers=headers, **kwargs
        ) as response:
            if response.status >= 400:
                raise BootstrapError(
                    f"{method} {path}: {response.status} {await response.text()}"
                )
            if response.content_type == "application/json":
                return await response.json()
            return await response.text()

    async def command(self, message: dict[str, Any], *, token: str = "") -> Any:
        """The result of one WebSocket API command (as this user, or token's)."""
        async with self.session.ws_connect(f"{self.url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": token or self.token})
            if (await ws.receive_json()).get("type") != "auth_ok":
                raise BootstrapError("WebSocket authentication failed")
            await ws.send_json({"id": 1, **message})
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise BootstrapError(f"{message['type']}: {answer.get('error')}")
            return answer.get("result")

    async def wait_until_up(self, within: float) -> None:
        """Until the frontend is served (HTTP only starts listening with it).

        Its web app manifest needs no login, so asking for it is no failed login
        attempt (an unauthenticated /api/ would raise a "Login attempt failed"
        notification on every start).
        """
        async with asyncio.timeout(within):
            while True:
                try:
                    async with self.session.get(f"{self.url}/manifest.json") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)

    async def _token_from_code(self, code: str) -> None:
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        )
        self.token = tokens["access_token"]

    async def login(self, username: str, password: str) -> None:
        """Log in through the login flow, as the frontend does."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={
                "username": username,
                "password": password,
                "client_id": self.client_id,
            },
        )
        if result.get("type") != "create_entry":
            raise BootstrapError(
                f"cannot log in as {username!r}: {result.get('errors')}"
            )
        await self._token_from_code(result["result"])

    async def onboard_or_login(self) -> bool:
        """Create the user on a fresh instance, else log in; True if it was fresh."""
        try:
            steps = await self.request("GET", "/api/onboarding")
        except BootstrapError:
            steps = []  # onboarding is over: its views are gone (404)
        user_done = not steps or any(
            step["step"] == "user" and step["done"] for step in steps
        )
        if user_done:
            await self.login(USERNAME, PASSWORD)
            return False
        created = await self.request(
            "POST",
            "/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": "Wake-up Coach developer",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        )
        await self._token_from_code(created["auth_code"])
        # Onboarding's core_config step starts a config flow for each integration it
        # adds; loaded beforehand, they finish within the step, so that what they
        # add can be removed right after it (before it retries and logs failures).
        await self._load_integrations(ONLINE_ONLY_DOMAINS)
        for step in ("core_config", "analytics"):
            await self.request("POST", f"/api/onboarding/{step}", json={})
        await self.remove_online_only_entries()
        await self.request(
            "POST",
            "/api/onboarding/integration",
            json={
                "client_id": self.client_id,
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        return True

    async def _load_integrations(self, domains: tuple[str, ...]) -> None:
        """Have Home Assistant load integrations without adding them.

        Opening a config flow loads an integration (and installs what it needs);
        the flow is closed again at once.
        """
        for domain in domains:
            try:
                flow = await self.request(
                    "POST", "/api/config/config_entries/flow", json={"handler": domain}
                )
            except BootstrapError as err:
                LOGGER.warning("Home Assistant cannot load %s: %s", domain, err)
                continue
            if flow.get("type") == "form":
                await self.request(
                    "DELETE", f"/api/config/config_entries/flow/{flow['flow_id']}"
                )
        await self.remove_online_only_entries()  # in case a flow added one at once

    async def remove_online_only_entries(self) -> None:
        """Remove the entries of integrations that need the internet (ONLINE_ONLY_DOMAINS)."""
        entries = await self.request("GET", "/api/config/config_entries/entry")
        for entry in entries:
            if entry["domain"] in ONLINE_ONLY_DOMAINS:
                LOGGER.info("removing %s: it needs the internet", entry["title"])
                await self.request(
                    "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
                )

    async def long_lived_token(self, client_name: str) -> str:
        """A long-lived access token of this user."""
        return str(
            await self.command(
                {
                    "type": "auth/long_lived_access_token",
                    "client_name": client_name,
                    "lifespan": 3650,
                }
            )
        )

    async def user_name_of(self, token: str) -> str | None:
        """Whose token it is (None: no valid token)."""
        try:
            user = await self.command({"type": "auth/current_user"}, token=token)
        except BootstrapError:
            return None
        return str(user["name"])

    async def phone_token(self) -> str:
        """A long-lived token for the simulator: of Alice's phone, no administrator.

        Her proof then shows in the logbook as done by her phone, not by the
        developer. The phone user gets a fresh random password on every call, used
        once to log in and forgotten.
        """
        password = secrets.token_urlsafe(24)
        users = await self.command({"type": "config/auth/list"})
        user = next((u for u in users if u["name"] == PHONE_USER_NAME), None)
        if user is None:
            created = await self.command(
                {
                    "type": "config/auth/create",
                    "name": PHONE_USER_NAME,
                    "group_ids": ["system-users"],
                    "local_only": True,
                }
            )
            user = created["user"]
        if user.get("username") is None:
            await self.command(
                {
                    "type": "config/auth_provider/homeassistant/create",
                    "user_id": user["id"],
                    "username": PHONE_USERNAME,
                    "password": password,
                }
            )
        else:
            await self.command(
                {
                    "type": "config/auth_provider/homeassistant/admin_change_password",
                    "user_id": user["id"],
                    "password": password,
                }
            )
        phone = HomeAssistantApi(self.session, self.url)
        await phone.login(user.get("username") or PHONE_USERNAME, password)
        return await phone.long_lived_token("Wake-up Coach simulator")

    async def ensure_entry(self, sim_url: str) -> str:
        """The Wake-up Coach entry (added against the simulator if missing); its id.

        An existing entry is pointed at sim_url if the simulator moved.
        """
        entries = await self.request(
            "GET", "/api/config/config_entries/entry?domain=wakeup_coach"
        )
        if entries:
            entry_id = str(entries[0]["entry_id"])
            await self._point_entry_at(entry_id, sim_url)
            return entry_id
        flow = await self.request(
            "POST", "/api/config/config_entries/flow", json={"handler": "wakeup_coach"}
        )
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            json=_account_form(sim_url)
            | {
                "account_sid": DEFAULT_ACCOUNT_SID,
                "auth_token": DEFAULT_AUTH_TOKEN,
                "openai_api_key": DEFAULT_OPENAI_KEY,
            },
        )
        if result.get("type") != "create_entry":
            raise BootstrapError(f"the config flow did not create the entry: {result}")
        entry_id = str(result["result"]["entry_id"])
        sleeper_flow = await self.request(
            "POST",
            "/api/config/config_entries/subentries/flow",
            json={"handler": [entry_id, "sleeper"]},
        )
        sleeper = await self.request(
            "POST",
            f"/api/config/config_entries/subentries/flow/{sleeper_flow['flow_id']}",
            json={
                "name": SLEEPER_NAME,
                "phone_number": SLEEPER_NUMBER,
                "language": "en-US",
                "voice": "Google.en-US-Chirp3-HD-Aoede",
                "realtime_voice": "marin",
                "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "verification_entities": [PROOF_ENTITY],
                "persona_notes": "Loves coffee and hates mornings.",
            },
        )
        if sleeper.get("type") != "create_entry":
            raise BootstrapError(f"the sleeper was not added: {sleeper}")
        return entry_id

    async def _point_entry_at(
        self, entry_id: str, sim_url: str, within: float = 60
    ) -> None:
        """Reconfigure the entry for sim_url unless it is loaded and already uses it.

        With the simulator on another port (WAKEUP_SIM_PORT), the entry kept the
        old URL and could not load.
        """
        async with asyncio.timeout(within):
            while (state := await self._entry_state(entry_id)) in SETTLING:  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.2)
        if state == "loaded" and await self._entry_urls(entry_id) == _urls(sim_url):
            return
        LOGGER.info(
            "pointing the Wake-up Coach entry at %s (it was %s)", sim_url, state
        )
        button_before = await self._last_updated(CALL_BUTTON)
        flow = await self.request(
            "POST",
            "/api/config/config_entries/flow",
            json={"handler": "wakeup_coach", "entry_id": entry_id},
        )
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            json=_account_form(sim_url),
        )
        if result.get("reason") != "reconfigure_successful":
            raise BootstrapError(f"the entry was not reconfigured: {result}")
        # The entry reloads: wait until its button is back, written anew.
        async with asyncio.timeout(within):
            while await self._last_updated(CALL_BUTTON) in (button_before, None):  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.2)

    async def ensure_sip(self, entry_id: str, sim_url: str) -> None:
        """Live calls over SIP set up against the simulated OpenAI project, as by hand.

        The options flow shows the webhook URL, which goes into the (simulated)
        project's webhook settings on every start (the simulator forgets it); the
        project's ID and signing secret go into the options once. The audio path
        stays as it is (Media Stream unless changed): a call with
        `transport: sip`, or the option, uses SIP.
        """
        async with self.session.get(f"{sim_url}/_sim/openai") as answer:
            project = await answer.json()
        flow = await self.request(
            "POST",
            "/api/config/config_entries/options/flow",
            json={"handler": entry_id},
        )
        webhook_url = flow["description_placeholders"]["webhook_url"]
        async with self.session.post(
            f"{sim_url}/_sim/openai/webhook", json={"url": webhook_url}
        ) as answer:
            if answer.status != 200:
                raise BootstrapError(f"the simulator refused {webhook_url}")
        options = await self._entry_options(entry_id)
        if options.get("openai_project_id") == project["project_id"]:
            await self.request(
                "DELETE", f"/api/config/config_entries/options/flow/{flow['flow_id']}"
            )
            return
        LOGGER.info("setting up live calls over SIP with %s", project["project_id"])
        form = {k: v for k, v in options.items() if k not in SIP_OPTION_KEYS}
        form["sip"] = {
            "openai_project_id": project["project_id"],
            "openai_webhook_secret": project["webhook_secret"],
        }
        button_before = await self._last_updated(CALL_BUTTON)
        result = await self.request(
            "POST",
            f"/api/config/config_entries/options/flow/{flow['flow_id']}",
            json=form,
        )
        if result.get("type") != "create_entry":
            raise BootstrapError(f"the SIP options were not stored: {result}")
        # The entry reloads with them: wait until its button is back, written anew.
        async with asyncio.timeout(60):
            while await self._last_updated(CALL_BUTTON) in (button_before, None):  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.2)

    async def _entry_options(self, entry_id: str) -> dict[str, Any]:
        """The entry's options, from its diagnostics (secrets redacted)."""
        diagnostics = await self.request(
            "GET", f"/api/diagnostics/config_entry/{entry_id}"
        )
        return dict(diagnostics["data"]["options"])

    async def _entry_state(self, entry_id: str) -> str:
        entries = await self.request("GET", "/api/config/config_entries/entry")
        return next(str(e["state"]) for e in entries if e["entry_id"] == entry_id)

    async def _entry_urls(self, entry_id: str) -> tuple[str, str] | None:
        """The entry's Twilio and OpenAI base URLs, from its diagnostics."""
        try:
            diagnostics = await self.request(
                "GET", f"/api/diagnostics/config_entry/{entry_id}"
            )
            data = diagnostics["data"]["data"]
            return (str(data["twilio_base_url"]), str(data["openai_base_url"]))
        except (BootstrapError, KeyError, TypeError):
            return None

    async def _last_updated(self, entity_id: str) -> str | None:
        try:
            state = await self.request("GET", f"/api/states/{entity_id}")
        except BootstrapError:
            return None
        if state["state"] == "unavailable":
            return None
        return str(state["last_updated"])

    async def wait_for_sleeper(self, within: float = 60) -> None:
        """Until HA has finished starting and the entry has (re)loaded its sleeper.

        Automations (the demo's "back in bed" reset among them) only run once HA
        is RUNNING; a call placed before then would miss them.
        """
        async with asyncio.timeout(within):
            while not await self._ready():  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.2)

    async def _ready(self) -> bool:
        if (await self.request("GET", "/api/config"))["state"] != "RUNNING":
            return False
        entries = await self.request(
            "GET", "/api/config/config_entries/entry?domain=wakeup_coach"
        )
        if not entries or entries[0]["state"] != "loaded":
            return False
        try:
            await self.request("GET", f"/api/states/{CALL_BUTTON}")
        except BootstrapError:
            return False
        return True


# Options the SIP setup writes (or HA keeps), not fields of the options form.
SIP_OPTION_KEYS = {
    "openai_project_id",
    "openai_webhook_secret",
    "sip_webhook_id",
    "sip_cloudhook",
}
# Config entry states that change by themselves (HA is starting or reloading it).
SETTLING = {"not_loaded", "setup_in_progress", "unload_in_progress"}


def _urls(sim_url: str) -> tuple[str, str]:
    """The entry's Twilio and OpenAI base URLs for a simulator."""
    return (sim_url, f"{sim_url}/v1")


def _account_form(sim_url: str) -> dict[str, Any]:
    """The account form's fields that the reconfigure step asks for too."""
    twilio_url, openai_url = _urls(sim_url)
    return {
        "from_number": DEFAULT_FROM_NUMBER,
        "advanced": {"openai_base_url": openai_url, "twilio_base_url": twilio_url},
    }


async def turn_on_proof(
    session: aiohttp.ClientSession, ha_url: str, token_file: Path, entity_id: str
) -> int:
    """The sleeper got up: turn the proof entity on with the simulator's token."""
    token = (await asyncio.to_thread(token_file.read_text, encoding="utf-8")).strip()
    domain = entity_id.split(".", maxsplit=1)[0]
    async with session.post(
        f"{ha_url}/api/services/{domain}/turn_on",
        json={"entity_id": entity_id},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status


async def bootstrap(
    ha_url: str, sim_url: str, token_file: Path | None, *, within: float = 300
) -> HomeAssistantApi:
    """Onboard (or log in), configure the integration, write the simulator's token."""
    session = aiohttp.ClientSession()
    api = HomeAssistantApi(session, ha_url.rstrip("/"))
    try:
        await api.wait_until_up(within)
        fresh = await api.onboard_or_login()
        if not fresh:
            await api.remove_online_only_entries()  # added by an older bootstrap
        if token_file is not None:
            await _ensure_phone_token(api, token_file, fresh=fresh)
        entry_id = await api.ensure_entry(sim_url)
        await api.wait_for_sleeper()
        await api.ensure_sip(entry_id, sim_url)
        await api.wait_for_sleeper()
    except BaseException:
        await session.close()
        raise
    return api


async def _ensure_phone_token(
    api: HomeAssistantApi, token_file: Path, *, fresh: bool
) -> None:
    """Keep the simulator's token if it is Alice's phone's, else make a new one.

    A fresh instance cannot know an old token (trying one would count as a failed
    login); an older bootstrap left the developer's.
    """
    if not fresh and await asyncio.to_thread(token_file.exists):
        token = await asyncio.to_thread(token_file.read_text, encoding="utf-8")
        if await api.user_name_of(token.strip()) == PHONE_USER_NAME:
            return
    await asyncio.to_thread(_write_secret, token_file, await api.phone_token())


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.ha_bootstrap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ha-url", default="http://127.0.0.1:8123")
    parser.add_argument("--sim-url", default="http://127.0.0.1:8124")
    parser.add_argument("--token-file", type=Path)
    parser.add_argument(
        "--write-http-config",
        metavar="CONFIG_DIR",
        type=Path,
        help="before Home Assistant starts: make it listen on --ha-url's address "
        "and port only, then exit",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bootstrap %(message)s")
    if args.write_http_config is not None:
        write_http_config(args.write_http_config, args.ha_url)
        return

    async def run() -> None:
        api = await bootstrap(args.ha_url, args.sim_url, args.token_file)
        await api.session.close()

    asyncio.run(run())
    LOGGER.info(
        "Ready: open %s, log in as %r / %r, open the %s device and press Call now. "
        "Simulated calls: %s/_sim/",
        args.ha_url,
        USERNAME,
        PASSWORD,
        SLEEPER_NAME,
        args.sim_url,
    )


if __name__ == "__main__":
    main()
