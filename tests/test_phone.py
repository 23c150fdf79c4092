"""E.164 normalisation and masking."""

from __future__ import annotations

import pytest

from custom_components.wakeup_coach.phone import (
    InvalidPhoneNumberError,
    mask_phone,
    normalize_e164,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+15550100199", "+15550100199"),
        (" +1 (555) 010-0199 ", "+15550100199"),
        ("+44 20 7946.0000", "+442079460000"),
        ("0049 30 123456", "+4930123456"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    """Separators and a 00 prefix are accepted."""
    assert normalize_e164(text) == expected


@pytest.mark.parametrize(
    "text",
    ["5550100199", "+0123456789", "+1234", "+1234567890123456", "+1555abc0199", ""],
)
def test_normalize_rejects(text: str) -> None:
    """No +, a leading 0, too short, too long, letters, empty."""
    with pytest.raises(InvalidPhoneNumberError):
        normalize_e164(text)


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+15550100199", "+•••••••••99"), ("+12", "+••"), ("+1", "+•")],
)
def test_mask(number: str, masked: str) -> None:
    """Only the last two digits remain, and only when more than two exist."""
    assert mask_phone(number) == masked
