"""The coach policy, shared by both call modes: instructions, magic words, when a call may end.

Plain Python, no Home Assistant: the turn handlers and the realtime bridge ask it
what to do and carry out the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import re
import unicodedata

from .models import SleeperConfig
from .phrases import Phrases

_NOT_WORD = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")


def normalize_speech(text: str) -> str:
    """Lower case, no accents or punctuation, single spaces: how magic words are compared."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.lower().replace("’", "'")  # noqa: RUF001 - phones transcribe curly apostrophes
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def contains_magic_words(text: str, magic_words: Iterable[str]) -> bool:
    """Whether the utterance contains one of the phrases, however it was spelled or spaced.

    "Good bye.", "goodbye!" and "GOOD-BYE" all match "goodbye"; "I'm up" matches
    "im up"; a phrase must match whole words ("bye" does not match "maybe").
    """
    spoken = normalize_speech(text)
    squeezed = f" {spoken.replace(' ', '').replace(chr(39), '')} "
    words = f" {spoken.replace(chr(39), '')} "
    for phrase in magic_words:
        wanted = normalize_speech(phrase).replace("'", "")
        if not wanted:
            continue
        if f" {wanted} " in words:
            return True
        # Also when the recogniser split or joined the words differently.
        joined = wanted.replace(" ", "")
        if len(joined) >= 5 and joined in squeezed:  # noqa: PLR2004 - short ones would match inside words
            return True
    return False


class Decision(StrEnum):
    """What to do with the sleeper's latest words."""

    CONTINUE = "continue"  # keep talking
    END_AWAKE = "end_awake"  # say goodbye and end the call: the sleeper is up
    PROVE_FIRST = (
        "prove_first"  # wants to end, but proof is missing: push them to get up
    )


@dataclass(frozen=True, kw_only=True)
class ProofState:
    """What the coach knows about proof of being up."""

    required: bool  # verification entities are configured
    satisfied: bool  # one of them fired in the window, or confirm_awake was called
    what: Sequence[str] = ()  # names of the entities that count, for the instructions

    @property
    def allows_ending(self) -> bool:
        """Magic words may end the call."""
        return self.satisfied or not self.required


@dataclass(frozen=True, kw_only=True)
class CoachPolicy:
    """The rules of one call."""

    sleeper: SleeperConfig
    magic_words: Sequence[str]
    phrases: Phrases

    def decide(self, utterance: str, proof: ProofState) -> Decision:
        """Whether the sleeper's words end the call."""
        if not contains_magic_words(utterance, self.magic_words):
            return Decision.CONTINUE
        return Decision.END_AWAKE if proof.allows_ending else Decision.PROVE_FIRST

    def instructions(
        self, proof: ProofState, *, now: datetime, extra: str | None = None
    ) -> str:
        """The system instructions for the model, for this moment of the call."""
        sleeper = self.sleeper
        lines = [
            (
                "You are a warm, upbeat and persistent wake-up coach. You are on a phone "
                f"call to wake up {sleeper.name}. It is {now:%A} {now:%H:%M}."
            ),
            f"Speak {self.phrases.language_name}, whatever language you are addressed in.",
            (
                "Keep every reply to one or two short spoken sentences, with no lists, "
                "emoji or stage directions: they are read aloud by a phone voice."
            ),
            (
                "Ask simple questions the sleeper must answer out loud, and get them "
                "moving: sit up, feet on the floor, stand, walk, lights on, water on the face."
            ),
            "If they mumble, go quiet or ask for more sleep, be kind but do not give in.",
        ]
        if proof.required and not proof.satisfied:
            names = ", ".join(proof.what) or "the agreed sensor"
            lines.append(
                f"{sleeper.name} only counts as up once Home Assistant notices it: "
                f"{names}. Until then, do not say goodbye; send them there."
            )
        elif proof.required:
            lines.append(f"{sleeper.name} has proven being up. Encourage them warmly.")
        words = ", ".join(f'"{word}"' for word in self.magic_words)
        lines.append(
            f"The call ends when they say {words}"
            + (" after proving they are up." if proof.required else ".")
        )
        if sleeper.persona_notes:
            lines.append(f"About {sleeper.name}: {sleeper.persona_notes}")
        if extra:
            lines.append(f"For this call: {extra}")
        return "\n".join(lines)
