"""The few fixed lines a call speaks itself, in the sleeper's language.

Everything else the coach says comes from the model, which is told the language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Phrases:
    """Fixed spoken lines of one language."""

    language_name: str
    greeting: str  # {name}
    are_you_sleeping: str
    fallback: str  # when the model cannot be reached
    goodbye: str  # {name}
    prove_first: str  # {proof}
    not_awake_goodbye: str
    time_up: str
    resume: str  # a live call continues turn-based


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        language_name="English",
        greeting="Good morning, {name}! It's time to wake up. How are you feeling?",
        are_you_sleeping="Are you sleeping? Say something so I know you're awake!",
        fallback="Sorry, I didn't quite get that. Are you sitting up yet?",
        goodbye="Well done, {name}, you're up! Have a wonderful day. Goodbye!",
        prove_first="Not so fast! First get up: {proof}. Then you can say goodbye.",
        not_awake_goodbye="I'll let you go for now. Goodbye.",
        time_up="That's all the time we have. Up you get, and have a good day!",
        resume="Sorry, the line was bad for a moment. Are you up yet?",
    ),
    "de": Phrases(
        language_name="German",
        greeting="Guten Morgen, {name}! Zeit aufzustehen. Wie geht es dir?",
        are_you_sleeping="Schläfst du? Sag etwas, damit ich weiß, dass du wach bist!",
        fallback="Entschuldige, das habe ich nicht verstanden. Sitzt du schon?",
        goodbye="Gut gemacht, {name}, du bist wach! Hab einen schönen Tag. Tschüss!",
        prove_first="Nicht so schnell! Steh erst auf: {proof}. Dann darfst du tschüss sagen.",
        not_awake_goodbye="Ich lasse dich jetzt. Tschüss.",
        time_up="Unsere Zeit ist um. Raus aus dem Bett, und einen schönen Tag!",
        resume="Entschuldige, die Leitung war kurz schlecht. Bist du schon auf?",
    ),
    "fr": Phrases(
        language_name="French",
        greeting="Bonjour {name} ! Il est l'heure de se réveiller. Comment ça va ?",
        are_you_sleeping="Tu dors ? Dis quelque chose pour que je sache que tu es réveillé !",
        fallback="Pardon, je n'ai pas compris. Tu es assis ?",
        goodbye="Bravo {name}, tu es debout ! Bonne journée. Au revoir !",
        prove_first="Pas si vite ! Lève-toi d'abord : {proof}. Ensuite tu pourras dire au revoir.",
        not_awake_goodbye="Je te laisse pour l'instant. Au revoir.",
        time_up="Le temps est écoulé. Debout, et bonne journée !",
        resume="Pardon, la ligne a coupé un instant. Tu es levé ?",
    ),
    "es": Phrases(
        language_name="Spanish",
        greeting="¡Buenos días, {name}! Es hora de despertarse. ¿Cómo te sientes?",
        are_you_sleeping="¿Estás durmiendo? ¡Di algo para saber que estás despierto!",
        fallback="Perdona, no te he entendido. ¿Ya estás sentado?",
        goodbye="¡Muy bien, {name}, ya estás de pie! Que tengas un gran día. ¡Adiós!",
        prove_first="¡No tan rápido! Primero levántate: {proof}. Luego puedes decir adiós.",
        not_awake_goodbye="Te dejo por ahora. Adiós.",
        time_up="Se acabó el tiempo. ¡Arriba, y que tengas un buen día!",
        resume="Perdona, la línea falló un momento. ¿Ya estás levantado?",
    ),
}


def phrases_for(language: str) -> Phrases:
    """The lines for a BCP-47 language code; English when the language is not covered."""
    return PHRASES.get(language.split("-", maxsplit=1)[0].lower(), PHRASES["en"])
