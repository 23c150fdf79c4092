"""What the simulator saw, so tests can assert on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request the integration made to a simulated service."""

    service: str  # "twilio" or "openai"
    method: str
    path: str
    status: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recorder:
    """An append-only log of requests and protocol events."""

    requests: list[RecordedRequest] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def request(self, record: RecordedRequest) -> None:
        """Log a request."""
        self.requests.append(record)

    def event(self, name: str, /, **details: Any) -> None:
        """Log something that happened, e.g. an application error Twilio would report."""
        self.events.append((name, details))

    def requests_to(self, service: str, path_part: str = "") -> list[RecordedRequest]:
        """Requests to one service whose path contains `path_part`."""
        return [
            r for r in self.requests if r.service == service and path_part in r.path
        ]

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Details of every event with this name."""
        return [details for event, details in self.events if event == name]
