"""Which language a Twilio `<Say>` voice speaks, so a sleeper's voice can be checked.

Google voices carry their language in the name (`Google.de-DE-Chirp3-HD-Aoede`);
Amazon Polly voices do not (`Polly.Vicki-Neural`), so the Polly voices of the
languages the sleeper form offers are listed here. Twilio's basic voices (`man`,
`woman`, `alice`) speak whatever language the call asks for.
"""

from __future__ import annotations

import unicodedata

# Amazon Polly voices (any engine: Polly.Name, Polly.Name-Neural, -Generative, ...).
POLLY_LANGUAGES: dict[str, str] = {
    **dict.fromkeys(
        (
            "danielle",
            "gregory",
            "ivy",
            "joanna",
            "joey",
            "justin",
            "kendra",
            "kevin",
            "kimberly",
            "matthew",
            "patrick",
            "ruth",
            "salli",
            "stephen",
        ),
        "en-US",
    ),
    **dict.fromkeys(("amy", "arthur", "brian", "emma"), "en-GB"),
    **dict.fromkeys(("nicole", "olivia", "russell"), "en-AU"),
    **dict.fromkeys(("daniel", "hans", "marlene", "vicki"), "de-DE"),
    **dict.fromkeys(("celine", "lea", "mathieu", "remi"), "fr-FR"),
    **dict.fromkeys(("conchita", "enrique", "lucia", "sergio"), "es-ES"),
    **dict.fromkeys(("lupe", "miguel", "pedro", "penelope"), "es-US"),
    **dict.fromkeys(("adriano", "bianca", "carla", "giorgio"), "it-IT"),
    **dict.fromkeys(("laura", "lotte", "ruben"), "nl-NL"),
    **dict.fromkeys(("camila", "ricardo", "thiago", "vitoria"), "pt-BR"),
    **dict.fromkeys(("astrid", "elin"), "sv-SE"),
    **dict.fromkeys(("mads", "naja", "sofie"), "da-DK"),
    **dict.fromkeys(("ida", "liv"), "nb-NO"),
    "suvi": "fi-FI",
    **dict.fromkeys(("ewa", "jacek", "jan", "maja", "ola"), "pl-PL"),
    **dict.fromkeys(("kazuha", "mizuki", "takumi", "tomoko"), "ja-JP"),
}


def _plain(text: str) -> str:
    """Lower case without accents: Polly.Léa and Polly.Lea are one voice."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def voice_language(voice: str) -> str | None:
    """The BCP-47 language a voice speaks, or None when it speaks any or is unknown."""
    provider, _, name = voice.strip().partition(".")
    if provider.lower() == "google":
        parts = name.split("-")
        if len(parts) >= 2 and parts[0].isalpha() and parts[1].isalpha():  # noqa: PLR2004 - language and region
            return f"{parts[0].lower()}-{parts[1].upper()}"
        return None
    if provider.lower() == "polly":
        return POLLY_LANGUAGES.get(_plain(name.split("-", 1)[0]))
    return None


def voice_matches(voice: str, language: str) -> bool:
    """Whether the voice can speak the language (True when the voice's language is unknown)."""
    spoken = voice_language(voice)
    return spoken is None or spoken.lower() == language.strip().lower()


def example_voice(language: str) -> str:
    """A Google voice for the language, to suggest in an error."""
    return f"Google.{language}-Chirp3-HD-Aoede"
