"""Phone numbers: E.164 validation and masking for logs and titles."""

from __future__ import annotations

import re

# E.164: "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# What people type between digits: spaces, dashes, dots, brackets.
_SEPARATORS = re.compile(r"[\s\-.()/]")
SHOWN_DIGITS = 2


class InvalidPhoneNumberError(ValueError):
    """The text is not a phone number in E.164 form."""


def normalize_e164(text: str) -> str:
    """Return the number in strict E.164 form, or raise InvalidPhoneNumberError.

    Separators are accepted ("+1 (555) 010-0199"); a missing "+" is not, because
    without it a country code cannot be told from a local number.
    """
    number = _SEPARATORS.sub("", text.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.fullmatch(number):
        raise InvalidPhoneNumberError(text)
    return number


def mask_phone(number: str) -> str:
    """Hide all but the last two digits, so logs and titles never carry a whole number."""
    digits = number.lstrip("+")
    shown = digits[-SHOWN_DIGITS:] if len(digits) > SHOWN_DIGITS else ""
    return "+" + "•" * (len(digits) - len(shown)) + shown


_NUMBER_IN_TEXT = re.compile(r"\+?\d{7,15}")


def mask_numbers_in(text: str) -> str:
    """Mask every phone-number-like run of digits in a message (e.g. Twilio's errors)."""
    return _NUMBER_IN_TEXT.sub(lambda match: mask_phone(match.group()), text)
