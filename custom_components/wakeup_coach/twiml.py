"""The TwiML documents of a call, built with the twilio package."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

# Seconds Twilio waits for the sleeper to start talking before falling through.
GATHER_TIMEOUT = 6


def turn(
    prompt: str, *, action: str, on_silence: str, language: str, voice: str
) -> str:
    """Say the prompt inside a speech Gather, then continue at `on_silence`.

    Inside the Gather, the sleeper can talk over the prompt (barge-in).
    speechTimeout "auto" cannot be combined with speechModel, so none is set.
    """
    response = VoiceResponse()
    gather = Gather(
        input="speech",
        action=action,
        method="POST",
        language=language,
        speech_timeout="auto",
        timeout=GATHER_TIMEOUT,
        action_on_empty_result=False,
    )
    gather.say(prompt, voice=voice, language=language)
    response.append(gather)
    response.redirect(on_silence, method="POST")
    return str(response)


def say_goodbye(text: str, *, language: str, voice: str) -> str:
    """Say a last line and hang up."""
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    response.hangup()
    return str(response)


def hang_up() -> str:
    """Hang up at once (voicemail, or a call that is already over)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def connect_stream(url: str, *, action: str, parameters: dict[str, str]) -> str:
    """Connect the call to a bidirectional Media Stream; Twilio asks `action` when it ends.

    Twilio drops a stream URL's query string: per-call values go in <Parameter>.
    """
    response = VoiceResponse()
    connect = Connect(action=action, method="POST")
    stream = connect.stream(url=url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def dial_sip(uri: str, *, action: str, time_limit: int) -> str:
    """Connect the call to a SIP address; Twilio asks `action` when that leg ends."""
    response = VoiceResponse()
    dial = Dial(action=action, method="POST", time_limit=time_limit)
    dial.sip(uri)
    response.append(dial)
    return str(response)
