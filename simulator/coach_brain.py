"""The simulated model's side of the conversation: short, context-aware coach replies.

Shared by chat completions and the Realtime API. It reads the instructions and the
conversation like a model would, only with rules instead of weights.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

_NAME = re.compile(r"\b(?:name is|called|calling|wake(?: up)?)\s+([A-Z][\w'-]+)")
_GOODBYE = re.compile(
    r"\b(good\s*bye|bye|i'?m up|i am up|end (?:the )?call)\b", re.IGNORECASE
)
_SNOOZE = re.compile(
    r"\b(five|5|ten|10|more) (?:more )?minutes?\b|\bsnooze\b", re.IGNORECASE
)
# How instructions say that the sleeper may not leave before proving they are up.
_PROOF_PENDING = re.compile(
    r"not (?:yet )?prove[dn]|only counts as up once", re.IGNORECASE
)
_UP = re.compile(
    r"\b(getting up|out of bed|bathroom|standing|i'?m up|awake)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Reply:
    """What the model does next: say something, or call a tool."""

    text: str = ""
    tool: str | None = None
    arguments: str = "{}"


def sleeper_name(instructions: str) -> str | None:
    """The name the instructions give the person being woken, if any."""
    match = _NAME.search(instructions)
    return match.group(1) if match else None


def reply(
    instructions: str,
    conversation: list[tuple[str, str]],
    tools: list[str] | None = None,
) -> Reply:
    """The next reply, given the instructions and (role, text) turns so far."""
    name = sleeper_name(instructions)
    hello = f", {name}" if name else ""
    user_turns = [
        text for role, text in conversation if role == "user" and text.strip()
    ]
    if not user_turns:
        return Reply(f"Good morning{hello}! It's time to wake up. How did you sleep?")
    last = user_turns[-1]
    end_tool = next((t for t in tools or [] if re.search(r"end|hang", t)), None)
    if end_tool and _GOODBYE.search(last):
        return Reply(tool=end_tool, arguments='{"reason": "sleeper said goodbye"}')
    if _GOODBYE.search(last) and _PROOF_PENDING.search(instructions):
        return Reply("Not so fast! You can say goodbye once you are really out of bed.")
    if _GOODBYE.search(last):
        return Reply(f"Glad you're up{hello}. Have a wonderful day!")
    if _SNOOZE.search(last):
        return Reply(
            "No more snoozing! Sit up and put both feet on the floor. Can you do that for me?"
        )
    if _UP.search(last):
        return Reply("Great job! Keep moving: splash some cold water on your face.")
    if len(last.split()) < 2:
        return Reply("I can't quite hear you. Are you sitting up yet?")
    count = len(user_turns)
    return Reply(
        f"Sounds good. Now stand up and stretch. What's the first thing on your plan today? ({count})"
        if count % 2
        else "Tell me one thing you're looking forward to today, while you walk to the bathroom."
    )
