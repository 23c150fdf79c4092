"""TwiML as Twilio reads it: parse a document into verbs, refusing what Twilio refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit
import xml.etree.ElementTree as ET


class TwiMLError(Exception):
    """Twilio would report an application error for this document."""

    def __init__(self, code: int, message: str) -> None:
        """Keep Twilio's error code."""
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Say:
    """Text spoken by Twilio's TTS."""

    text: str
    voice: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Play:
    """An audio file."""

    url: str


@dataclass(frozen=True)
class Pause:
    """Silence."""

    length: float = 1.0


@dataclass(frozen=True)
class Gather:
    """Listen for speech."""

    action: str | None
    method: str
    input: str
    timeout: float
    speech_timeout: str
    language: str
    action_on_empty_result: bool
    barge_in: bool
    nested: tuple[Say | Play | Pause, ...] = ()


@dataclass(frozen=True)
class Redirect:
    """Fetch TwiML from another URL."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True)
class Stream:
    """A bidirectional Media Stream."""

    url: str
    parameters: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None


@dataclass(frozen=True)
class Connect:
    """Connect the call to a stream; `action` is fetched when it ends."""

    stream: Stream
    action: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Sip:
    """A SIP URI to dial: the address, its URI parameters and custom X- headers."""

    uri: str  # as written, headers included
    user: str
    host: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dial:
    """Connect the call to another party (here: a SIP endpoint).

    `action` is fetched when the dialled leg ends, with DialCallStatus and friends;
    without it, the document goes on with the next verb.
    """

    sip: Sip
    action: str | None = None
    method: str = "POST"
    timeout: float = 30.0
    time_limit: float = 14400.0


Verb = Say | Play | Pause | Gather | Redirect | Hangup | Connect | Dial

# Twilio's limit for the custom headers of a <Sip> URI (everything after "?").
MAX_SIP_HEADERS_CHARS = 1024


def _bool(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _number(value: str | None, default: float, verb: str, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise TwiMLError(12200, f"<{verb}> {name}={value!r} is not a number") from None
    if number < 0:
        raise TwiMLError(12200, f"<{verb}> {name} must not be negative")
    return number


def _nested_verb(element: ET.Element, base_url: str) -> Say | Play | Pause:
    if element.tag == "Say":
        return Say(
            text=(element.text or "").strip(),
            voice=element.get("voice"),
            language=element.get("language"),
        )
    if element.tag == "Play":
        return Play(url=urljoin(base_url, (element.text or "").strip()))
    if element.tag == "Pause":
        return Pause(length=_number(element.get("length"), 1.0, "Pause", "length"))
    raise TwiMLError(12200, f"<{element.tag}> is not allowed inside <Gather>")


def _gather(element: ET.Element, base_url: str) -> Gather:
    input_ = element.get("input", "dtmf")
    if set(input_.split()) - {"dtmf", "speech"}:
        raise TwiMLError(12200, f"<Gather> input={input_!r} is invalid")
    speech_timeout = element.get("speechTimeout", str(element.get("timeout", "5")))
    if speech_timeout != "auto":
        _number(speech_timeout, 0, "Gather", "speechTimeout")
    action = element.get("action")
    return Gather(
        action=urljoin(base_url, action) if action else None,
        method=element.get("method", "POST").upper(),
        input=input_,
        timeout=_number(element.get("timeout"), 5.0, "Gather", "timeout"),
        speech_timeout=speech_timeout,
        language=element.get("language", "en-US"),
        action_on_empty_result=_bool(element.get("actionOnEmptyResult"), default=False),
        barge_in=_bool(element.get("bargeIn"), default=True),
        nested=tuple(_nested_verb(child, base_url) for child in element),
    )


def _connect(element: ET.Element, base_url: str) -> Connect:
    streams = [child for child in element if child.tag == "Stream"]
    if len(streams) != 1 or len(element) != 1:
        raise TwiMLError(12200, "<Connect> must hold exactly one <Stream>")
    stream = streams[0]
    url = stream.get("url")
    if not url:
        raise TwiMLError(31923, "<Stream> has no url")
    parts = urlsplit(url)
    if parts.scheme not in ("wss", "ws") or not parts.netloc:
        raise TwiMLError(
            31922, f"<Stream> url scheme {parts.scheme!r} is not supported"
        )
    parameters: dict[str, str] = {}
    for child in stream:
        if child.tag != "Parameter" or child.get("name") is None:
            raise TwiMLError(12200, "<Stream> may only hold <Parameter name value>")
        parameters[child.get("name", "")] = child.get("value", "")
    action = element.get("action")
    return Connect(
        stream=Stream(
            url=url, parameters=parameters, status_callback=stream.get("statusCallback")
        ),
        action=urljoin(base_url, action) if action else None,
        method=element.get("method", "POST").upper(),
    )


def parse_sip_uri(text: str) -> Sip:
    """A <Sip> noun's URI: sip:user@host;param=value?X-Header=value&...; raises TwiMLError."""
    uri = text.strip()
    scheme, _, rest = uri.partition(":")
    if scheme.lower() not in ("sip", "sips") or not rest:
        raise TwiMLError(12200, f"<Sip> {uri!r} is not a sip: URI")
    address, _, header_part = rest.partition("?")
    target, *param_parts = address.split(";")
    user, at, host = target.rpartition("@")
    if not at or not user or not host:
        raise TwiMLError(12200, f"<Sip> {uri!r} has no user@host")
    params = {}
    for part in param_parts:
        name, _, value = part.partition("=")
        params[name.lower()] = value
    headers: dict[str, str] = {}
    if len(header_part) > MAX_SIP_HEADERS_CHARS:
        raise TwiMLError(12200, "<Sip> headers are longer than 1024 characters")
    for pair in filter(None, header_part.split("&")):
        name, _, value = pair.partition("=")
        if not name.upper().startswith("X-"):
            # Twilio only passes custom headers that start with X-.
            raise TwiMLError(12200, f"<Sip> header {name!r} does not start with X-")
        headers[name] = unquote(value)
    return Sip(uri=uri, user=user, host=host.lower(), params=params, headers=headers)


def _dial(element: ET.Element, base_url: str) -> Dial:
    nouns = list(element)
    if (element.text or "").strip() or len(nouns) != 1 or nouns[0].tag != "Sip":
        raise TwiMLError(
            12200, "<Dial> must hold exactly one <Sip> (the only noun simulated)"
        )
    action = element.get("action")
    return Dial(
        sip=parse_sip_uri(nouns[0].text or ""),
        action=urljoin(base_url, action) if action else None,
        method=element.get("method", "POST").upper(),
        timeout=_number(element.get("timeout"), 30.0, "Dial", "timeout"),
        time_limit=_number(element.get("timeLimit"), 14400.0, "Dial", "timeLimit"),
    )


def parse(document: str, base_url: str) -> list[Verb]:
    """The verbs of a TwiML document; relative URLs resolve against `base_url`."""
    try:
        root = ET.fromstring(document)  # noqa: S314 - the integration under test is the only source
    except ET.ParseError as err:
        raise TwiMLError(12100, f"document parse failure: {err}") from None
    if root.tag != "Response":
        raise TwiMLError(12100, f"the root element is <{root.tag}>, not <Response>")
    verbs: list[Verb] = []
    for element in root:
        match element.tag:
            case "Say" | "Play" | "Pause":
                verbs.append(_nested_verb(element, base_url))
            case "Gather":
                verbs.append(_gather(element, base_url))
            case "Redirect":
                target = (element.text or "").strip()
                if not target:
                    raise TwiMLError(12200, "<Redirect> has no URL")
                verbs.append(
                    Redirect(
                        urljoin(base_url, target), element.get("method", "POST").upper()
                    )
                )
            case "Hangup":
                verbs.append(Hangup())
            case "Connect":
                verbs.append(_connect(element, base_url))
            case "Dial":
                verbs.append(_dial(element, base_url))
            case _:
                raise TwiMLError(
                    12200, f"<{element.tag}> is not a verb this simulator knows"
                )
    return verbs


def speaking_seconds(text: str) -> float:
    """How long Twilio's TTS takes to say `text` (about 150 words a minute)."""
    return max(0.5, len(text.split()) / 2.5)
