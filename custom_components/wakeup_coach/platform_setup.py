"""The one loop every platform runs: each description for each sleeper, per subentry."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import WakeupCoachConfigEntry
from .sleeper import Sleeper


def add_sleeper_entities[D: EntityDescription](
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Iterable[D],
    factory: Callable[[Sleeper, D], Entity],
) -> None:
    """Add the platform's entities of every sleeper, tied to the sleeper's subentry."""
    descriptions = tuple(descriptions)
    for sleeper in entry.runtime_data.sleepers.values():
        async_add_entities(
            [factory(sleeper, description) for description in descriptions],
            config_subentry_id=sleeper.subentry_id,
        )
