"""Every user-facing string exists in every language, with the same placeholders."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components/wakeup_coach/translations"
)
LANGUAGES = ("de", "fr", "es", "nl")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Dotted key -> string, for every string of a translation file."""
    if isinstance(node, dict):
        return {
            key: text
            for name, child in node.items()
            for key, text in flatten(child, f"{prefix}{name}.").items()
        }
    return {prefix.rstrip("."): node}


def load(language: str) -> dict[str, str]:
    """A language's strings, flattened."""
    path = TRANSLATIONS / f"{language}.json"
    return flatten(json.loads(path.read_text(encoding="utf-8")))


ENGLISH = load("en")


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_english(language: str) -> None:
    """No key of en.json is missing, and none is extra."""
    keys = set(load(language))
    assert (sorted(set(ENGLISH) - keys), sorted(keys - set(ENGLISH))) == ([], [])


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_placeholders_as_english(language: str) -> None:
    """Each string names the same placeholders as its English original."""
    strings = load(language)
    assert {
        key: sorted(set(PLACEHOLDER.findall(text)))
        for key, text in strings.items()
        if key in ENGLISH
        and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(ENGLISH[key]))
    } == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_text(language: str) -> None:
    """No string is empty or anything but text."""
    assert [
        key
        for key, text in load(language).items()
        if not isinstance(text, str) or not text.strip()
    ] == []
