"""Next alarm and last call result of each sleeper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account_entity import AccountEntity
from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .models import CallResult
from .platform_setup import add_sleeper_entities
from .selftest import SelfTester, Verdict
from .sleeper import Sleeper

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class WakeupCoachSensorDescription(SensorEntityDescription):
    """A sensor whose value is read from the sleeper."""

    value_fn: Callable[[Sleeper], datetime | str | None]
    attributes_fn: Callable[[Sleeper], dict[str, Any] | None] = lambda _: None


SENSORS = (
    WakeupCoachSensorDescription(
        key="next_alarm",
        translation_key="next_alarm",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda sleeper: sleeper.next_alarm(),
        attributes_fn=lambda sleeper: (
            {"kind": sleeper.next_alarm_kind, "attempt": sleeper.next_alarm_attempt}
            if sleeper.next_alarm_at
            else None
        ),
    ),
    WakeupCoachSensorDescription(
        key="last_call_result",
        translation_key="last_call_result",
        device_class=SensorDeviceClass.ENUM,
        options=[result.value for result in CallResult],
        value_fn=lambda sleeper: sleeper.settings.last_call_result,
    ),
)


@dataclass(frozen=True, kw_only=True)
class AccountSensorDescription(SensorEntityDescription):
    """A sensor whose value is read from the account's self-test."""

    value_fn: Callable[[SelfTester], str | None]
    attributes_fn: Callable[[SelfTester], dict[str, Any] | None]


def _selftest_attributes(selftest: SelfTester) -> dict[str, Any] | None:
    if (last := selftest.last) is None:
        return None
    attributes = last.as_dict()
    del attributes["result"]
    return attributes


def _stream_attributes(selftest: SelfTester) -> dict[str, Any] | None:
    if (last := selftest.last_stream) is None:
        return None
    attributes = last.as_dict()
    del attributes["connected"]
    return attributes


ACCOUNT_SENSORS = (
    AccountSensorDescription(
        key="connectivity_self_test",
        translation_key="connectivity_self_test",
        device_class=SensorDeviceClass.ENUM,
        options=[verdict.value for verdict in Verdict],
        value_fn=lambda selftest: selftest.last.verdict if selftest.last else None,
        attributes_fn=_selftest_attributes,
    ),
    AccountSensorDescription(
        key="last_stream_connection",
        translation_key="last_stream_connection",
        device_class=SensorDeviceClass.ENUM,
        options=["connected", "not_connected"],
        value_fn=lambda selftest: (
            None
            if selftest.last_stream is None
            else "connected"
            if selftest.last_stream.connected
            else "not_connected"
        ),
        attributes_fn=_stream_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every sleeper, and the account's connectivity sensors."""
    add_sleeper_entities(entry, async_add_entities, SENSORS, SleeperSensor)
    async_add_entities(
        AccountSensor(entry, description) for description in ACCOUNT_SENSORS
    )


class SleeperSensor(WakeupCoachEntity, SensorEntity):
    """A value the sleeper knows."""

    entity_description: WakeupCoachSensorDescription

    @property
    def native_value(self) -> datetime | str | None:
        """Read the value."""
        return self.entity_description.value_fn(self.sleeper)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details (what the next call is for)."""
        return self.entity_description.attributes_fn(self.sleeper)


class AccountSensor(AccountEntity, SensorEntity):
    """The last self-test, or the last live call's stream connection."""

    entity_description: AccountSensorDescription

    @property
    def native_value(self) -> str | None:
        """Read the value."""
        return self.entity_description.value_fn(self.selftest)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """When, each step with its time, what failed."""
        return self.entity_description.attributes_fn(self.selftest)
