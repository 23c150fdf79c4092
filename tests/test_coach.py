"""The coach policy: magic words, the end-of-call decision, the model's instructions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.wakeup_coach.coach import (
    CoachPolicy,
    Decision,
    ProofState,
    contains_magic_words,
    normalize_speech,
)
from custom_components.wakeup_coach.const import DEFAULT_MAGIC_WORDS
from custom_components.wakeup_coach.models import SleeperConfig
from custom_components.wakeup_coach.phrases import phrases_for

ALICE = SleeperConfig(
    subentry_id="s1",
    name="Alice",
    phone_number="+15550100111",
    persona_notes="Loves coffee.",
)
POLICY = CoachPolicy(
    sleeper=ALICE, magic_words=DEFAULT_MAGIC_WORDS, phrases=phrases_for("en-US")
)
NOW = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "goodbye",
        "Goodbye.",
        "good bye!",
        "GOOD-BYE",
        "Okay, good  bye then",
        "I'm up",
        "i am up now",
        "Im up",
        "I’m up",  # noqa: RUF001 - a curly apostrophe, as recognisers produce
        "please end the call",
    ],
)
def test_magic_words_match(text: str) -> None:
    """Spelling, spacing, case and punctuation do not matter."""
    assert contains_magic_words(text, DEFAULT_MAGIC_WORDS)


@pytest.mark.parametrize(
    "text",
    ["maybe later", "I'm upset", "good morning", "", "bye bye birdie"],
)
def test_magic_words_do_not_match(text: str) -> None:
    """Words inside other words, and other phrases, do not end a call."""
    assert not contains_magic_words(text, ["goodbye", "I'm up"])


def test_custom_and_accented_magic_words() -> None:
    """Configured words in other languages, accents ignored; blank words ignored."""
    assert contains_magic_words("Tschüss!", ["tschuss", " "])
    assert contains_magic_words("Au revoir.", ["au revoir"])
    assert normalize_speech("  Élan,  VITAL! ") == "elan vital"


@pytest.mark.parametrize(
    ("text", "proof", "decision"),
    [
        ("tell me more", ProofState(required=True, satisfied=False), Decision.CONTINUE),
        ("goodbye", ProofState(required=True, satisfied=False), Decision.PROVE_FIRST),
        ("goodbye", ProofState(required=True, satisfied=True), Decision.END_AWAKE),
        ("goodbye", ProofState(required=False, satisfied=False), Decision.END_AWAKE),
    ],
)
def test_decide(text: str, proof: ProofState, decision: Decision) -> None:
    """Magic words end the call only when proof allows it."""
    assert POLICY.decide(text, proof) is decision


def test_instructions_follow_the_proof_state() -> None:
    """The model is told who, when, the language, the proof rule, the persona and extras."""
    pending = POLICY.instructions(
        ProofState(required=True, satisfied=False, what=("Bathroom motion",)),
        now=NOW,
        extra="Plumber at 8.",
    )
    assert "wake up Alice" in pending
    assert "Thursday 06:30" in pending
    assert "Speak English" in pending
    assert (
        "only counts as up once Home Assistant notices it: Bathroom motion" in pending
    )
    assert "after proving they are up" in pending
    assert "About Alice: Loves coffee." in pending
    assert "For this call: Plumber at 8." in pending
    proven = POLICY.instructions(ProofState(required=True, satisfied=True), now=NOW)
    assert "has proven being up" in proven
    free = POLICY.instructions(ProofState(required=False, satisfied=False), now=NOW)
    assert "proven" not in free
    assert "after proving" not in free


def test_phrases_fall_back_to_english() -> None:
    """Known languages get their lines; others get English."""
    assert phrases_for("de-DE").language_name == "German"
    assert phrases_for("sv-SE").language_name == "English"
    for language in ("en", "de", "fr", "es"):
        phrases = phrases_for(language)
        assert "{name}" in phrases.greeting
        assert "{proof}" in phrases.prove_first
