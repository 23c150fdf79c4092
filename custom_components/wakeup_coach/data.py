"""Runtime data of a config entry."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
import openai

from .call_manager import CallManager
from .sleeper import Sleeper
from .store import SettingsStore
from .twilio_rest import TwilioRestClient


@dataclass(kw_only=True)
class WakeupCoachData:
    """What a loaded entry holds: clients, sleepers, their store, and the calls."""

    twilio: TwilioRestClient
    openai: openai.AsyncOpenAI
    sleepers: dict[str, Sleeper]
    store: SettingsStore
    calls: CallManager


type WakeupCoachConfigEntry = ConfigEntry[WakeupCoachData]
