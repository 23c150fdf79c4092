"""The simulated model's side of the conversation: short, context-aware coach replies.

Shared by chat completions, the Realtime API and GPT-Live. It reads the instructions
and the conversation like a model would, only with rules instead of weights.

GPT-Live has no response.create: the app steers it with appended instructions or
commentary, which `live_line` answers; a caller's finished utterance is answered by
`live_reply`, which is `reply` with what the appends have since told the model.
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
    if conversation and conversation[-1][0] == "tool":
        # The app answered a function call: a model speaks about the result.
        result = conversation[-1][1]
        if re.search(r'"ending":\s*false', result):
            return Reply("Not so fast! You can hang up once you are really out of bed.")
        return Reply(f"Glad you're up{hello}. Have a wonderful day!")
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


# --- GPT-Live ------------------------------------------------------------------------

# Names an append may introduce the sleeper with ("Greet Alice now").
_LIVE_NAME = re.compile(r"\b(?:greet|wake|call|tell|ask|remind)\s+([A-Z][\w'-]+)")
_NEGATED = re.compile(r"\b(?:not|never|don'?t|doesn'?t|n't)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_ASK_GREETING = re.compile(
    r"\b(greet|say hello|say good morning|introduce yourself|start the call)\b",
    re.IGNORECASE,
)
_CONFIRMED_UP = re.compile(
    r"\b(?:confirmed|proven|proved|verified)\b.*\b(?:up|out of bed|awake)\b"
    r"|\b(?:is|are) (?:now )?(?:up|out of bed)\b",
    re.IGNORECASE,
)
_ASK_GOODBYE = re.compile(
    r"\b(good\s*bye|end the call|hang up|sign off|wrap up)\b", re.IGNORECASE
)
_SILENT_SLEEPER = re.compile(
    r"\b(silent|quiet|not (?:responding|answering|replying)|no (?:answer|response|reply)"
    r"|still there|has(?:n't| not) said)\b",
    re.IGNORECASE,
)


def _affirmed(text: str, pattern: re.Pattern[str]) -> bool:
    """Whether a sentence of `text` asks for `pattern` without negating it."""
    return any(
        pattern.search(sentence) and not _NEGATED.search(sentence)
        for sentence in _SENTENCE.split(text)
    )


def _live_name(context: str) -> str | None:
    if name := sleeper_name(context):
        return name
    match = _LIVE_NAME.search(context)
    return match.group(1) if match else None


def greeting(name: str | None) -> str:
    """The first thing the coach says (the same line `reply` opens with)."""
    hello = f", {name}" if name else ""
    return f"Good morning{hello}! It's time to wake up. How did you sleep?"


def live_line(
    directive: str,
    instructions: str,
    appended: list[str],
    conversation: list[tuple[str, str]],
    *,
    commentary: bool = False,
) -> str:
    """What GPT-Live says when an appended instruction or commentary takes effect.

    directive: the append's content; appended: every append placed so far, the
    directive included. A commentary with no directive the rules know is said as
    it is: the model paraphrases commentary aloud.
    """
    name = _live_name("\n".join([instructions, *appended]))
    hello = f", {name}" if name else ""
    goodbye = _affirmed(directive, _ASK_GOODBYE)
    if _affirmed(directive, _CONFIRMED_UP):
        line = f"Well done{hello}, you're up and out of bed! I'm proud of you."
        return f"{line} Have a wonderful day. Goodbye!" if goodbye else line
    if goodbye:
        return f"Have a wonderful day{hello}. Goodbye!"
    if _affirmed(directive, _SILENT_SLEEPER):
        return f"Are you still there{hello}? Come on, it's time to get up!"
    if _affirmed(directive, _ASK_GREETING):
        return greeting(name)
    if commentary:
        return directive.strip()
    return live_reply(instructions, appended, conversation)


def live_reply(
    instructions: str, appended: list[str], conversation: list[tuple[str, str]]
) -> str:
    """GPT-Live's answer to the caller: `reply`, given the appends too.

    Once an append has said the sleeper is confirmed up, the rule of the session
    instructions that they may not leave yet no longer holds.
    """
    if any(_affirmed(text, _CONFIRMED_UP) for text in appended):
        instructions = " ".join(
            sentence
            for sentence in _SENTENCE.split(instructions)
            if not _PROOF_PENDING.search(sentence)
        )
    return reply("\n".join([instructions, *appended]), conversation).text
