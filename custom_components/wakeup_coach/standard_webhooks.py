"""Standard Webhooks signatures, as OpenAI signs its project webhooks.

The secret ("whsec_" and the base64 of the key) signs "{id}.{timestamp}.{body}"
with HMAC-SHA256; `webhook-signature` holds one or more space-separated
"v1,<base64>" values. The raw body is verified before anything parses it,
signatures are compared in constant time, and a timestamp far from now is
refused, so that a captured request cannot be replayed later. Replays within the
tolerance are caught by remembering the ids seen (`ReplayGuard`).

Plain Python: no Home Assistant.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Mapping
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
# OpenAI's SDK allows five minutes either way.
TOLERANCE_SECONDS = 300
# Ids remembered at once: far more than a home receives within the tolerance.
MAX_REMEMBERED_IDS = 1024


class WebhookVerificationError(Exception):
    """The request is not a valid, fresh, signed webhook.

    `reason` is short and stable: missing_headers, bad_timestamp, stale_timestamp,
    bad_signature.
    """

    def __init__(self, reason: str) -> None:
        """Keep the reason."""
        super().__init__(reason)
        self.reason = reason


def decode_secret(secret: str) -> bytes:
    """The signing key of a "whsec_…" secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as err:
        raise ValueError("a webhook secret is base64 after whsec_") from err
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def signature(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The "v1,<base64>" signature of one delivery."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return (
        "v1,"
        + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    )


def verify(
    key: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """Check a delivery's signature and freshness; its webhook id, or WebhookVerificationError."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and signatures):
        raise WebhookVerificationError("missing_headers")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("bad_timestamp") from None
    expected = signature(key, webhook_id, timestamp, body).encode()
    # Every candidate is compared, whatever the first one gave: no early way out.
    matched = False
    for candidate in signatures.split():
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise WebhookVerificationError("bad_signature")
    if abs(now - sent_at) > tolerance:
        raise WebhookVerificationError("stale_timestamp")
    return webhook_id


class ReplayGuard:
    """The webhook ids seen while their timestamps are fresh: a second delivery is a replay."""

    def __init__(
        self,
        tolerance: float = TOLERANCE_SECONDS,
        capacity: int = MAX_REMEMBERED_IDS,
    ) -> None:
        """Nothing seen yet."""
        self._tolerance = tolerance
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, webhook_id: str, *, now: float) -> bool:
        """Remember the id; False if it was seen before (a replay or a redelivery)."""
        # Beyond twice the tolerance, a repeat would be refused as stale anyway.
        horizon = now - 2 * self._tolerance
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)
        if webhook_id in self._seen:
            return False
        if len(self._seen) >= self._capacity:
            self._seen.popitem(last=False)
        self._seen[webhook_id] = now
        return True
