"""Injected failures: answer the next matching requests with an error, or late."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault:
    """Answer `times` requests to `service` whose "METHOD path" contains `match`."""

    service: str
    match: str
    # None: answer normally, only late (use with `delay`).
    status: int | None = 500
    times: int = 1
    delay: float = 0.0
    # Drop the connection instead of answering (a network failure).
    disconnect: bool = False
    # Carry the request out, then answer with the error anyway (Twilio acted, the
    # client cannot know).
    after_handler: bool = False


class Faults:
    """Faults waiting to be used, in the order they were added."""

    def __init__(self) -> None:
        """Start with none."""
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Forget every queued fault."""
        self._faults.clear()

    def take(self, service: str, method: str, path: str) -> Fault | None:
        """The fault for this request, if one is queued; it is used up once per request."""
        request = f"{method} {path}"
        for fault in self._faults:
            if fault.service == service and fault.match in request:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None
