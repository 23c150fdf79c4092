"""Constants for the Wake-up Coach integration."""

from __future__ import annotations

from datetime import time
import logging
from typing import Final

DOMAIN: Final = "wakeup_coach"
LOGGER = logging.getLogger(__package__)

# Account (config entry data)
CONF_ACCOUNT_SID: Final = "account_sid"
CONF_AUTH_TOKEN: Final = "auth_token"  # noqa: S105 - a field name
CONF_FROM_NUMBER: Final = "from_number"
CONF_OPENAI_API_KEY: Final = "openai_api_key"
CONF_ADVANCED: Final = "advanced"
CONF_OPENAI_BASE_URL: Final = "openai_base_url"
CONF_TWILIO_BASE_URL: Final = "twilio_base_url"

DEFAULT_TWILIO_BASE_URL: Final = "https://api.twilio.com"
DEFAULT_OPENAI_BASE_URL: Final = "https://api.openai.com/v1"

# Options
CONF_CHAT_MODEL: Final = "chat_model"
CONF_REALTIME_ENGINE: Final = "realtime_engine"
CONF_REALTIME_MODEL: Final = "realtime_model"
CONF_LIVE_MODEL: Final = "live_model"
CONF_MAX_CALL_MINUTES: Final = "max_call_minutes"
CONF_RING_TIMEOUT: Final = "ring_timeout"
CONF_REDIAL_DELAY: Final = "redial_delay"
CONF_REDIAL_ATTEMPTS: Final = "redial_attempts"
CONF_MAGIC_WORDS: Final = "magic_words"
CONF_CATCH_UP_MINUTES: Final = "catch_up_minutes"
# Realtime calls over SIP (Twilio dials the OpenAI project; HA steers over a sideband)
CONF_REALTIME_TRANSPORT: Final = "realtime_transport"
CONF_SIP: Final = "sip"  # the options form's section
CONF_OPENAI_PROJECT_ID: Final = "openai_project_id"
CONF_WEBHOOK_SECRET: Final = "openai_webhook_secret"  # noqa: S105 - a field name
CONF_SIP_WEBHOOK_ID: Final = "sip_webhook_id"

DEFAULT_CHAT_MODEL: Final = "gpt-4.1-mini"
DEFAULT_REALTIME_MODEL: Final = "gpt-realtime-2"
DEFAULT_LIVE_MODEL: Final = "gpt-live-1"
DEFAULT_MAX_CALL_MINUTES: Final = 10
DEFAULT_RING_TIMEOUT: Final = 30
DEFAULT_REDIAL_DELAY: Final = 60
DEFAULT_REDIAL_ATTEMPTS: Final = 3
# An alarm Home Assistant was down for still rings this late; later, it counts as missed.
DEFAULT_CATCH_UP_MINUTES: Final = 10
DEFAULT_MAGIC_WORDS: Final = (
    "goodbye",
    "good bye",
    "i'm up",
    "i am up",
    "end call",
    "end the call",
)

# Sleeper (config subentry data)
SUBENTRY_SLEEPER: Final = "sleeper"
CONF_NAME: Final = "name"
CONF_PHONE_NUMBER: Final = "phone_number"
CONF_LANGUAGE: Final = "language"
CONF_VOICE: Final = "voice"
CONF_REALTIME_VOICE: Final = "realtime_voice"
CONF_WEEKDAYS: Final = "weekdays"
CONF_VERIFICATION_ENTITIES: Final = "verification_entities"
CONF_PERSONA_NOTES: Final = "persona_notes"
CONF_ONLY_WHEN: Final = "only_when"
# The area the sleeper's device is put in when it is created (the device page moves it later).
CONF_AREA: Final = "area_id"

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_LANGUAGE: Final = "en-US"
DEFAULT_VOICE: Final = "Google.en-US-Chirp3-HD-Aoede"
DEFAULT_REALTIME_VOICE: Final = "marin"
REALTIME_VOICES: Final = (
    "marin",
    "cedar",
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
)
LANGUAGES: Final = (
    "en-US",
    "en-GB",
    "en-AU",
    "de-DE",
    "fr-FR",
    "es-ES",
    "es-US",
    "it-IT",
    "nl-NL",
    "pt-BR",
    "sv-SE",
    "da-DK",
    "nb-NO",
    "fi-FI",
    "pl-PL",
    "ja-JP",
)

# Per-sleeper settings that entities change and that survive restarts
DEFAULT_ALARM_TIME: Final = time(6, 30)
# The old service flipped a fair coin between the two modes.
DEFAULT_REALTIME_PROBABILITY: Final = 50.0

# Bus event for every step of a call; the event entity carries the same types.
EVENT_CALL: Final = "wakeup_coach_event"
EVENT_TYPES: Final = (
    "dialing",
    "answered",
    "awake",
    "not_awake",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "canceled",
    "fallback",
    "alarm",
    "missed_catch_up",
    "snoozed",
    "skipped",
    "redial_scheduled",
    "missed",
)

# Actions
SERVICE_CALL: Final = "call"
SERVICE_HANG_UP: Final = "hang_up"
SERVICE_CONFIRM_AWAKE: Final = "confirm_awake"
SERVICE_SNOOZE: Final = "snooze"
SERVICE_SKIP_NEXT: Final = "skip_next"
SERVICE_SELF_TEST: Final = "self_test"
SERVICE_TEST_CALL: Final = "test_call"
ATTR_SLEEPER: Final = "sleeper"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_MODE: Final = "mode"
ATTR_ENGINE: Final = "engine"
ATTR_TRANSPORT: Final = "transport"
ATTR_INSTRUCTIONS: Final = "instructions"
ATTR_MINUTES: Final = "minutes"
ATTR_IN_MINUTES: Final = "in_minutes"
ATTR_UNDO: Final = "undo"
