"""Standard Webhooks verification: signatures, freshness, replays, secrets."""

from __future__ import annotations

import base64

import pytest

from custom_components.wakeup_coach.standard_webhooks import (
    ReplayGuard,
    WebhookVerificationError,
    decode_secret,
    verify,
)
from simulator.accounts import DEFAULT_WEBHOOK_SECRET
from simulator.sip import sign

KEY = decode_secret(DEFAULT_WEBHOOK_SECRET)
BODY = b'{"type":"realtime.call.incoming","data":{}}'
NOW = 1_800_000_000


def headers(
    *, webhook_id: str = "wh_1", timestamp: int = NOW, body: bytes = BODY
) -> dict[str, str]:
    """What OpenAI sends, signed by the simulator's own implementation."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(DEFAULT_WEBHOOK_SECRET, webhook_id, timestamp, body),
    }


def test_accepts_a_valid_delivery() -> None:
    """A delivery signed with the secret, sent just now, gives its id."""
    assert verify(KEY, headers(), BODY, now=NOW + 10) == "wh_1"


def test_accepts_any_of_several_signatures() -> None:
    """During a secret rotation several signatures come; one that matches is enough."""
    sent = headers()
    sent["webhook-signature"] = "v1,AAAA " + sent["webhook-signature"]
    assert verify(KEY, sent, BODY, now=NOW) == "wh_1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": ""}, "missing_headers"),
        ({"webhook-id": ""}, "missing_headers"),
        ({"webhook-timestamp": "soon"}, "bad_timestamp"),
        ({"webhook-id": "wh_2"}, "bad_signature"),  # signed for another id
        ({"webhook-timestamp": str(NOW + 1)}, "bad_signature"),  # another time
        ({"webhook-signature": "v2,abc"}, "bad_signature"),
    ],
)
def test_refuses_what_is_not_signed(change: dict[str, str], reason: str) -> None:
    """Every part of the delivery is covered by the signature."""
    with pytest.raises(WebhookVerificationError) as raised:
        verify(KEY, headers() | change, BODY, now=NOW)
    assert raised.value.reason == reason


def test_refuses_a_changed_body() -> None:
    """The signature covers the raw bytes: one changed byte is refused."""
    with pytest.raises(WebhookVerificationError, match="bad_signature"):
        verify(KEY, headers(), BODY.replace(b"{}", b"[]"), now=NOW)


def test_refuses_another_secret() -> None:
    """A delivery signed with another project's secret is refused."""
    other = decode_secret("whsec_" + base64.b64encode(b"another key").decode())
    with pytest.raises(WebhookVerificationError, match="bad_signature"):
        verify(other, headers(), BODY, now=NOW)


@pytest.mark.parametrize(
    ("offset", "fresh"), [(300, True), (-300, True), (301, False), (-301, False)]
)
def test_freshness(offset: int, fresh: bool) -> None:
    """Five minutes either way, as OpenAI's SDK allows."""
    if fresh:
        assert verify(KEY, headers(), BODY, now=NOW + offset) == "wh_1"
        return
    with pytest.raises(WebhookVerificationError, match="stale_timestamp"):
        verify(KEY, headers(), BODY, now=NOW + offset)


@pytest.mark.parametrize(
    "secret", ["c2VjcmV0", "whsec_", "whsec_not base64!", "whsec_c2VjcmV0="]
)
def test_decode_secret_refuses_what_is_no_secret(secret: str) -> None:
    """Only "whsec_" and a non-empty base64 key is a signing secret."""
    with pytest.raises(ValueError, match="secret"):
        decode_secret(secret)


def test_decode_secret() -> None:
    """The key behind the prefix."""
    assert decode_secret("whsec_c2VjcmV0") == b"secret"


def test_replay_guard_remembers_ids() -> None:
    """An id is new once; a second delivery of it is a replay."""
    guard = ReplayGuard()
    assert guard.first_time("wh_1", now=NOW)
    assert guard.first_time("wh_2", now=NOW)
    assert not guard.first_time("wh_1", now=NOW + 100)


def test_replay_guard_forgets_what_is_stale_anyway() -> None:
    """Beyond twice the tolerance an id is forgotten: its delivery would be stale."""
    guard = ReplayGuard(tolerance=300)
    assert guard.first_time("wh_1", now=NOW)
    assert guard.first_time("wh_1", now=NOW + 601)


def test_replay_guard_is_bounded() -> None:
    """At capacity, the oldest id makes room."""
    guard = ReplayGuard(capacity=2)
    for webhook_id in ("wh_1", "wh_2", "wh_3"):
        assert guard.first_time(webhook_id, now=NOW)
    assert guard.first_time("wh_1", now=NOW)
    assert not guard.first_time("wh_3", now=NOW)
