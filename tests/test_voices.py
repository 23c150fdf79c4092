"""Which language a Twilio voice speaks."""

from __future__ import annotations

import pytest

from custom_components.wakeup_coach.voices import (
    example_voice,
    voice_language,
    voice_matches,
)


@pytest.mark.parametrize(
    ("voice", "language"),
    [
        ("Google.en-US-Chirp3-HD-Aoede", "en-US"),
        ("google.de-de-Neural2-A", "de-DE"),
        ("Polly.Joanna-Neural", "en-US"),
        ("Polly.Vicki", "de-DE"),
        ("Polly.Léa-Neural", "fr-FR"),
        ("Polly.Lotte", "nl-NL"),
        ("Polly.Lucia-Generative", "es-ES"),
        ("alice", None),
        ("man", None),
        ("Polly.Nobody", None),
        ("Google.Chirp3", None),
        ("Google.cmn-123-x", None),
    ],
)
def test_voice_language(voice: str, language: str | None) -> None:
    """Google voices name their language; Polly voices are looked up; others speak any."""
    assert voice_language(voice) == language


@pytest.mark.parametrize(
    ("voice", "language", "matches"),
    [
        ("Google.de-DE-Chirp3-HD-Aoede", "de-DE", True),
        ("Google.de-DE-Chirp3-HD-Aoede", "de-de", True),
        ("Google.en-GB-Chirp3-HD-Aoede", "en-US", False),
        ("Polly.Joanna-Neural", "fr-FR", False),
        ("alice", "ja-JP", True),
    ],
)
def test_voice_matches(voice: str, language: str, matches: bool) -> None:
    """A voice matches the language it speaks, or any when it speaks any."""
    assert voice_matches(voice, language) is matches


def test_example_voice() -> None:
    """The suggestion is a Google voice of the language."""
    assert voice_language(example_voice("nl-NL")) == "nl-NL"
