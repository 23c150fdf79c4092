"""A sleeper at runtime: configuration, persisted settings and live status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from .models import CallResult, SleeperConfig, SleeperSettings


class Sleeper:
    """One person to wake. Entities read it and listen to it; it never touches HA."""

    def __init__(
        self,
        config: SleeperConfig,
        settings: SleeperSettings,
        save: Callable[[SleeperSettings], None],
    ) -> None:
        """Wrap a sleeper's config and settings; `save` persists settings after a change."""
        self.config = config
        self.settings = settings
        self.call_in_progress = False
        # When the alarm clock calls next, and why (an alarm, a redial, a snooze).
        self.next_alarm_at: datetime | None = None
        self.next_alarm_kind: str | None = None
        self.next_alarm_attempt: int | None = None
        self._save = save
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[str, dict[str, Any]], None]] = []

    @property
    def subentry_id(self) -> str:
        """The config subentry this sleeper comes from; also its device's identifier."""
        return self.config.subentry_id

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every change; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_event_listener(
        self, listener: Callable[[str, dict[str, Any]], None]
    ) -> Callable[[], None]:
        """Call `listener(event_type, data)` for every wake-up event; returns its remover."""
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """A step of a wake-up call happened (dialing, answered, awake, ...)."""
        for listener in list(self._event_listeners):
            listener(event_type, data)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def update_settings(self, **changes: Any) -> None:
        """Change persisted settings, save them and tell the entities."""
        new = replace(self.settings, **changes)
        if new == self.settings:
            return
        self.settings = new
        self._save(new)
        self._notify()

    def set_call_in_progress(self, *, in_progress: bool) -> None:
        """Mark a call as running or finished."""
        if self.call_in_progress != in_progress:
            self.call_in_progress = in_progress
            self._notify()

    def record_result(self, result: CallResult) -> None:
        """Remember how the last call ended."""
        self.update_settings(last_call_result=result)

    def next_alarm(self) -> datetime | None:
        """When the alarm clock places the next call (None: nothing is scheduled)."""
        return self.next_alarm_at

    def set_next_alarm(
        self,
        at: datetime | None,
        *,
        kind: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """The alarm clock rescheduled."""
        changed = (
            self.next_alarm_at,
            self.next_alarm_kind,
            self.next_alarm_attempt,
        ) != (
            at,
            kind,
            attempt,
        )
        self.next_alarm_at, self.next_alarm_kind, self.next_alarm_attempt = (
            at,
            kind if at else None,
            attempt if at else None,
        )
        if changed:
            self._notify()
