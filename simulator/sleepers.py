"""Scripted sleepers: how a simulated person answers and what they say, turn by turn.

A script is plain data. Add one by adding a SleeperScript to SCRIPTS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Answer(StrEnum):
    """What happens when the phone rings."""

    HUMAN = "human"
    MACHINE = "machine"  # voicemail picks up
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"  # e.g. an unreachable number


@dataclass(frozen=True)
class Say:
    """The sleeper says something on their turn."""

    text: str
    confidence: float = 0.92
    # Gets up and provides proof (the verification entity fires) before speaking.
    proof: bool = False
    # Starts speaking while the coach is still talking.
    barge_in: bool = False


@dataclass(frozen=True)
class Silence:
    """The sleeper says nothing on their turn."""


@dataclass(frozen=True)
class HangUp:
    """The sleeper hangs up instead of answering."""


Line = Say | Silence | HangUp


@dataclass(frozen=True)
class SleeperScript:
    """One simulated sleeper."""

    name: str
    description: str
    answer: Answer = Answer.HUMAN
    ring_seconds: float = 4.0
    lines: tuple[Line, ...] = ()
    # What happens once the lines run out.
    then: Line = field(default_factory=Silence)
    # Pause between the coach falling silent and the sleeper starting to talk.
    think_seconds: float = 0.6

    def line(self, turn: int) -> Line:
        """What the sleeper does on turn `turn` (0-based)."""
        return self.lines[turn] if turn < len(self.lines) else self.then


SCRIPTS: dict[str, SleeperScript] = {
    script.name: script
    for script in (
        SleeperScript(
            name="wakes_quickly",
            description="Answers at once, is up quickly, proves it, says goodbye.",
            ring_seconds=2.0,
            lines=(
                Say("Good morning! I'm awake."),
                Say("I'm out of bed and in the bathroom now.", proof=True),
                Say("Thanks, goodbye!"),
            ),
        ),
        SleeperScript(
            name="sleepy",
            description="Silence, mumbles, asks for five more minutes, then gets up.",
            ring_seconds=6.0,
            lines=(
                Silence(),
                Say("mmmh", confidence=0.35),
                Say("Five more minutes, please."),
                Say("Okay, okay. I'm getting up.", proof=True),
                Say("I'm up. Goodbye."),
            ),
        ),
        SleeperScript(
            name="silent",
            description="Answers, then never says a word.",
            lines=(Silence(), Silence(), Silence()),
        ),
        SleeperScript(
            name="never_answers",
            description="Lets it ring out.",
            answer=Answer.NO_ANSWER,
        ),
        SleeperScript(
            name="busy",
            description="The line is busy.",
            answer=Answer.BUSY,
        ),
        SleeperScript(
            name="voicemail",
            description="Voicemail picks up.",
            answer=Answer.MACHINE,
        ),
        SleeperScript(
            name="hangs_up",
            description="Answers, grumbles and hangs up mid-call.",
            lines=(Say("Who is calling so early?"), HangUp()),
        ),
        SleeperScript(
            name="talks_over",
            description="Talks over the coach (barge-in), then gets up.",
            lines=(
                Say("Yes yes, I hear you, I am awake!", barge_in=True),
                Say("Stop talking, I'm getting up already.", barge_in=True, proof=True),
                Say("Goodbye."),
            ),
        ),
        SleeperScript(
            name="goodbye_before_proof",
            description="Says goodbye before getting up, then gets up and says it again.",
            lines=(
                Say("I'm awake, goodbye."),
                Say("Fine. I'm walking to the bathroom.", proof=True),
                Say("Goodbye!"),
            ),
        ),
    )
}
DEFAULT_SCRIPT = "wakes_quickly"
