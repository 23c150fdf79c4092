"""Runtime data of a config entry."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
import openai

from .call_manager import CallManager
from .call_session import CallSession
from .models import CallMode, CallTrigger, EngineKind, RealtimeTransport
from .scheduler import SleeperAlarm
from .selftest import SelfTester
from .sleeper import Sleeper
from .store import AlarmStore, SettingsStore
from .twilio_rest import TwilioRestClient


@dataclass(kw_only=True)
class WakeupCoachData:
    """What a loaded entry holds: clients, sleepers, their stores, calls and alarms."""

    twilio: TwilioRestClient
    openai: openai.AsyncOpenAI
    sleepers: dict[str, Sleeper]
    store: SettingsStore
    alarm_store: AlarmStore
    calls: CallManager
    alarms: dict[str, SleeperAlarm]
    selftest: SelfTester

    async def async_call_now(
        self,
        sleeper: Sleeper,
        mode: CallMode = CallMode.AUTO,
        instructions: str | None = None,
        engine: EngineKind | None = None,
        *,
        transport: RealtimeTransport | None = None,
    ) -> CallSession:
        """A call asked for by hand (the action, the button): it replaces pending redials."""
        self.alarms[sleeper.subentry_id].stop_ladder("a call was placed by hand")
        return await self.calls.async_place_call(
            sleeper, mode, instructions, engine, CallTrigger(), transport=transport
        )


type WakeupCoachConfigEntry = ConfigEntry[WakeupCoachData]
