"""Call-now button of each sleeper."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account_entity import AccountEntity
from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .models import CallMode
from .platform_setup import add_sleeper_entities
from .sleeper import Sleeper

PARALLEL_UPDATES = 1

CALL_NOW = ButtonEntityDescription(key="call_now", translation_key="call_now")
RUN_SELF_TEST = ButtonEntityDescription(
    key="run_self_test", translation_key="run_self_test"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a call-now button per sleeper, and the account's self-test button."""
    add_sleeper_entities(
        entry,
        async_add_entities,
        [CALL_NOW],
        lambda sleeper, description: CallNowButton(entry, sleeper, description),
    )
    async_add_entities([SelfTestButton(entry, RUN_SELF_TEST)])


class CallNowButton(WakeupCoachEntity, ButtonEntity):
    """Place a wake-up call right away, mode chosen as for an alarm."""

    def __init__(
        self,
        entry: WakeupCoachConfigEntry,
        sleeper: Sleeper,
        description: ButtonEntityDescription,
    ) -> None:
        """Keep the entry: its call manager places the call."""
        super().__init__(sleeper, description)
        self.entry = entry

    async def async_press(self) -> None:
        """Dial."""
        await self.entry.runtime_data.async_call_now(self.sleeper, CallMode.AUTO)


class SelfTestButton(AccountEntity, ButtonEntity):
    """Run the connectivity self-test now; its sensor shows the result."""

    async def async_press(self) -> None:
        """Test."""
        await self.selftest.async_run()
