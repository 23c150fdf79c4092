"""Wire a fresh Home Assistant to the simulator, the way a newcomer would by hand.

Used by scripts/develop and by the smoke test: it onboards a local user, adds the
Wake-up Coach entry pointed at the simulator and one sleeper, and leaves a
long-lived token for the simulator (proof lines turn the sleeper's input_boolean on).
Everything goes through Home Assistant's own HTTP and WebSocket APIs.

    python -m simulator.ha_bootstrap --ha-url http://127.0.0.1:8123 --sim-url http://127.0.0.1:8124
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any

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
ONLINE_ONLY_DOMAINS = {"met", "radio_browser", "google_translate"}


class BootstrapError(Exception):
    """Home Assistant did not accept a step."""


@dataclass
class HomeAssistantApi:
    """A logged-in client of Home Assistant's REST API."""

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

    async def onboard_or_login(self) -> bool:
        """Create the user on a fresh instance, else log in; True if it was fresh."""
        try:
            steps = await self.request("GET", "/api/onboarding")
        except BootstrapError:
            steps = []  # onboarding is over: the view answers 401 or is gone
        user_done = not steps or any(
            step["step"] == "user" and step["done"] for step in steps
        )
        if not user_done:
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
            for step in ("core_config", "analytics"):
                await self.request("POST", f"/api/onboarding/{step}", json={})
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json={
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.url}/?auth_callback=1",
                },
            )
            await self._remove_internet_integrations()
            return True
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
                "username": USERNAME,
                "password": PASSWORD,
                "client_id": self.client_id,
            },
        )
        if result.get("type") != "create_entry":
            raise BootstrapError(
                f"cannot log in as {USERNAME!r}: {result.get('errors')}"
            )
        await self._token_from_code(result["result"])
        return False

    async def _remove_internet_integrations(self) -> None:
        """Remove what onboarding adds that needs the internet (weather, radio).

        An offline development instance would only log their failures.
        """
        entries = await self.request("GET", "/api/config/config_entries/entry")
        for entry in entries:
            if entry["domain"] in ONLINE_ONLY_DOMAINS:
                await self.request(
                    "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
                )

    async def long_lived_token(self) -> str:
        """A long-lived access token, from the WebSocket API."""
        async with self.session.ws_connect(f"{self.url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json()).get("type") != "auth_ok":
                raise BootstrapError("WebSocket authentication failed")
            await ws.send_json(
                {
                    "id": 1,
                    "type": "auth/long_lived_access_token",
                    "client_name": "Wake-up Coach simulator",
                    "lifespan": 3650,
                }
            )
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise BootstrapError(f"no long-lived token: {answer}")
            return str(answer["result"])

    async def ensure_entry(self, sim_url: str) -> str:
        """The Wake-up Coach entry (added against the simulator if missing); its id."""
        entries = await self.request(
            "GET", "/api/config/config_entries/entry?domain=wakeup_coach"
        )
        if entries:
            return str(entries[0]["entry_id"])
        flow = await self.request(
            "POST", "/api/config/config_entries/flow", json={"handler": "wakeup_coach"}
        )
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            json={
                "account_sid": DEFAULT_ACCOUNT_SID,
                "auth_token": DEFAULT_AUTH_TOKEN,
                "from_number": DEFAULT_FROM_NUMBER,
                "openai_api_key": DEFAULT_OPENAI_KEY,
                "advanced": {
                    "openai_base_url": f"{sim_url}/v1",
                    "twilio_base_url": sim_url,
                },
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
            await self.request("GET", "/api/states/button.alice_call_now")
        except BootstrapError:
            return False
        return True


async def bootstrap(
    ha_url: str, sim_url: str, token_file: Path | None, *, within: float = 300
) -> HomeAssistantApi:
    """Onboard (or log in), configure the integration, write the simulator's token."""
    session = aiohttp.ClientSession()
    api = HomeAssistantApi(session, ha_url.rstrip("/"))
    try:
        await api.wait_until_up(within)
        fresh = await api.onboard_or_login()
        if token_file is not None and (fresh or not token_file.exists()):  # noqa: ASYNC240 - a small local file, once
            token = await api.long_lived_token()
            await asyncio.to_thread(_write_secret, token_file, token)
        await api.ensure_entry(sim_url)
        await api.wait_for_sleeper()
    except BaseException:
        await session.close()
        raise
    return api


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.ha_bootstrap", description=__doc__
    )
    parser.add_argument("--ha-url", default="http://127.0.0.1:8123")
    parser.add_argument("--sim-url", default="http://127.0.0.1:8124")
    parser.add_argument("--token-file", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bootstrap %(message)s")

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
