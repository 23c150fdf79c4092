"""Parsing TwiML the way Twilio reads it."""

from __future__ import annotations

import pytest

from simulator import twiml

BASE = "https://ha.example/api/wakeup_coach/call/abc/voice"


def test_parse_gather_with_nested_say() -> None:
    """Attributes, defaults, nested verbs and relative URLs."""
    verbs = twiml.parse(
        '<Response><Gather input="speech" action="turn" speechTimeout="auto" language="de-DE">'
        '<Say voice="Polly.Vicki">Hallo</Say><Pause length="2"/></Gather>'
        "<Redirect>/api/next</Redirect><Hangup/></Response>",
        BASE,
    )
    gather = verbs[0]
    assert isinstance(gather, twiml.Gather)
    assert gather.action == "https://ha.example/api/wakeup_coach/call/abc/turn"
    assert gather.timeout == 5.0
    assert gather.language == "de-DE"
    assert gather.nested == (twiml.Say("Hallo", "Polly.Vicki"), twiml.Pause(2.0))
    assert verbs[1] == twiml.Redirect("https://ha.example/api/next", "POST")
    assert verbs[2] == twiml.Hangup()


def test_parse_connect_stream() -> None:
    """Parameters travel with the stream; the action is resolved."""
    verbs = twiml.parse(
        '<Response><Connect action="/done"><Stream url="wss://ha.example/s">'
        '<Parameter name="token" value="t1"/></Stream></Connect></Response>',
        BASE,
    )
    connect = verbs[0]
    assert isinstance(connect, twiml.Connect)
    assert connect.stream.parameters == {"token": "t1"}
    assert connect.action == "https://ha.example/done"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("<Response><Say>Hi", 12100),
        ("<Speak>Hi</Speak>", 12100),
        ("<Response><Dance/></Response>", 12200),
        ('<Response><Gather input="smoke"/></Response>', 12200),
        ('<Response><Gather timeout="soon"/></Response>', 12200),
        ("<Response><Gather><Hangup/></Gather></Response>", 12200),
        ("<Response><Redirect/></Response>", 12200),
        ("<Response><Connect/></Response>", 12200),
        ("<Response><Connect><Stream/></Connect></Response>", 31923),
        ('<Response><Connect><Stream url="https://x/s"/></Connect></Response>', 31922),
        (
            '<Response><Connect><Stream url="wss://x/s"><Say>x</Say></Stream></Connect></Response>',
            12200,
        ),
        ('<Response><Pause length="-1"/></Response>', 12200),
    ],
)
def test_invalid_documents(document: str, code: int) -> None:
    """What Twilio refuses, with its error code."""
    with pytest.raises(twiml.TwiMLError) as err:
        twiml.parse(document, BASE)
    assert err.value.code == code
