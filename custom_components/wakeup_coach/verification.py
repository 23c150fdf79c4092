"""Proof that a sleeper is up: one of their verification entities fired, or confirm_awake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
    split_entity_id,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from .coach import ProofState
from .models import SleeperConfig

# Proof shortly before the call counts too: someone already in the bathroom is up.
PROOF_WINDOW_BEFORE_CALL = timedelta(minutes=5)
# Entities whose every new state is an occurrence (a timestamp), not on/off.
_OCCURRENCE_DOMAINS = ("event", "input_button", "button")


def is_proof(entity_id: str, old: str | None, new: str | None) -> bool:
    """Whether a state change counts as the sleeper being up.

    Only a real transition counts: an entity appearing (None, a restart) or
    coming back (unavailable, a sensor reconnecting) is not someone getting up.
    """
    if new in (None, STATE_UNAVAILABLE, STATE_UNKNOWN) or old in (
        None,
        STATE_UNAVAILABLE,
    ):
        return False
    if split_entity_id(entity_id)[0] in _OCCURRENCE_DOMAINS:
        # An event or button that never fired is "unknown"; its first firing counts.
        return new != old
    return new == STATE_ON and old not in (STATE_ON, STATE_UNKNOWN)


class ProofTracker:
    """Watches one sleeper's verification entities."""

    def __init__(self, hass: HomeAssistant, sleeper: SleeperConfig) -> None:
        """Nothing is watched until `async_start`."""
        self._hass = hass
        self._sleeper = sleeper
        self.last_proof: datetime | None = None
        self._listeners: list[Callable[[], None]] = []

    @callback
    def async_start(self) -> Callable[[], None]:
        """Start watching; returns the function that stops it."""
        if not self._sleeper.verification_entities:
            return lambda: None
        return async_track_state_change_event(
            self._hass, list(self._sleeper.verification_entities), self._changed
        )

    @callback
    def _changed(self, event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if is_proof(
            event.data["entity_id"],
            old.state if old else None,
            new.state if new else None,
        ):
            self.confirm()

    @callback
    def confirm(self) -> None:
        """Record proof now (an entity fired, or the confirm_awake action)."""
        self.last_proof = dt_util.utcnow()
        for listener in list(self._listeners):
            listener()

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` on every proof (a live call tells the model); returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def state(self, call_started: datetime) -> ProofState:
        """What the coach may assume for a call that started at `call_started`."""
        required = bool(self._sleeper.verification_entities)
        satisfied = self.last_proof is not None and (
            self.last_proof >= call_started - PROOF_WINDOW_BEFORE_CALL
        )
        names = []
        for entity_id in self._sleeper.verification_entities:
            state = self._hass.states.get(entity_id)
            names.append(state.name if state else entity_id)
        return ProofState(required=required, satisfied=satisfied, what=tuple(names))
