"""Runtime data of a config entry."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
import openai

from .sleeper import Sleeper
from .store import SettingsStore
from .twilio_rest import TwilioRestClient


@dataclass(kw_only=True)
class WakeupCoachData:
    """What a loaded entry holds: clients, sleepers and their store."""

    twilio: TwilioRestClient
    openai: openai.AsyncOpenAI
    sleepers: dict[str, Sleeper]
    store: SettingsStore


type WakeupCoachConfigEntry = ConfigEntry[WakeupCoachData]
