"""Config flow: the account, its options, and one subentry per sleeper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    AreaSelector,
    EntitySelector,
    EntitySelectorConfig,
    LanguageSelector,
    LanguageSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import openai

from .const import (
    CONF_ACCOUNT_SID,
    CONF_ADVANCED,
    CONF_AREA,
    CONF_AUTH_TOKEN,
    CONF_CATCH_UP_MINUTES,
    CONF_CHAT_MODEL,
    CONF_FROM_NUMBER,
    CONF_LANGUAGE,
    CONF_LIVE_MODEL,
    CONF_MAGIC_WORDS,
    CONF_MAX_CALL_MINUTES,
    CONF_NAME,
    CONF_ONLY_WHEN,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_PERSONA_NOTES,
    CONF_PHONE_NUMBER,
    CONF_REALTIME_ENGINE,
    CONF_REALTIME_MODEL,
    CONF_REALTIME_VOICE,
    CONF_REDIAL_ATTEMPTS,
    CONF_REDIAL_DELAY,
    CONF_RING_TIMEOUT,
    CONF_TWILIO_BASE_URL,
    CONF_VERIFICATION_ENTITIES,
    CONF_VOICE,
    CONF_WEEKDAYS,
    DEFAULT_CATCH_UP_MINUTES,
    DEFAULT_CHAT_MODEL,
    DEFAULT_LANGUAGE,
    DEFAULT_LIVE_MODEL,
    DEFAULT_MAGIC_WORDS,
    DEFAULT_MAX_CALL_MINUTES,
    DEFAULT_OPENAI_BASE_URL,
    DEFAULT_REALTIME_MODEL,
    DEFAULT_REALTIME_VOICE,
    DEFAULT_REDIAL_ATTEMPTS,
    DEFAULT_REDIAL_DELAY,
    DEFAULT_RING_TIMEOUT,
    DEFAULT_TWILIO_BASE_URL,
    DEFAULT_VOICE,
    DOMAIN,
    LANGUAGES,
    LOGGER,
    REALTIME_VOICES,
    SUBENTRY_SLEEPER,
    WEEKDAYS,
)
from .entity import async_sleeper_device
from .models import EngineKind, engine_of_model
from .openai_client import (
    async_check_openai,
    async_create_openai_client,
    async_list_models,
)
from .phone import InvalidPhoneNumberError, normalize_e164
from .schema import vol
from .sip_options import (
    WebhookSetup,
    async_sip_errors,
    async_webhook_setup,
    sip_fields,
    suggested,
)
from .twilio_rest import TwilioAuthError, TwilioError, TwilioRestClient
from .voices import example_voice, voice_language, voice_matches

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
TEXT = TextSelector()
PHONE = TextSelector(TextSelectorConfig(type=TextSelectorType.TEL))
URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
VERIFICATION_DOMAINS = [
    "binary_sensor",
    "event",
    "input_boolean",
    "input_button",
    "light",
    "switch",
]


def _advanced_section(*, collapsed: bool) -> section:
    return section(
        vol.Schema(
            {
                vol.Required(
                    CONF_OPENAI_BASE_URL, default=DEFAULT_OPENAI_BASE_URL
                ): URL,
                vol.Required(
                    CONF_TWILIO_BASE_URL, default=DEFAULT_TWILIO_BASE_URL
                ): URL,
            }
        ),
        {"collapsed": collapsed},
    )


def _advanced_collapsed(values: Mapping[str, Any], errors: Mapping[str, str]) -> bool:
    """Fold the Advanced section away only while it holds nothing to look at.

    Once the user changed a base URL, or a base error may come from one, the form
    shown again (after an error, or to reconfigure) keeps the section open.
    """
    advanced = values.get(CONF_ADVANCED) or {}
    return "base" not in errors and (
        advanced.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
        advanced.get(CONF_TWILIO_BASE_URL, DEFAULT_TWILIO_BASE_URL),
    ) == (DEFAULT_OPENAI_BASE_URL, DEFAULT_TWILIO_BASE_URL)


def _account_schema(*, with_sid: bool, collapsed: bool = True) -> vol.Schema:
    fields: dict[vol.Marker, Any] = {}
    if with_sid:
        fields[vol.Required(CONF_ACCOUNT_SID)] = TEXT
    # When reconfiguring, a blank secret keeps the stored one.
    secret = vol.Required if with_sid else vol.Optional
    fields |= {
        secret(CONF_AUTH_TOKEN): PASSWORD,
        vol.Required(CONF_FROM_NUMBER): PHONE,
        secret(CONF_OPENAI_API_KEY): PASSWORD,
        vol.Required(CONF_ADVANCED): _advanced_section(collapsed=collapsed),
    }
    return vol.Schema(fields)


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Move the advanced section's fields to the top level, where entry data keeps them."""
    data = {k: v for k, v in user_input.items() if k != CONF_ADVANCED}
    data |= user_input.get(CONF_ADVANCED, {})
    return data


def _nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's shape of flat entry data, for suggested values (secrets left out)."""
    return {
        CONF_FROM_NUMBER: data[CONF_FROM_NUMBER],
        CONF_ADVANCED: {
            CONF_OPENAI_BASE_URL: data.get(
                CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL
            ),
            CONF_TWILIO_BASE_URL: data.get(
                CONF_TWILIO_BASE_URL, DEFAULT_TWILIO_BASE_URL
            ),
        },
    }


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


async def async_validate_account(
    hass: HomeAssistant, data: dict[str, Any]
) -> dict[str, str]:
    """Check the account against Twilio and OpenAI; return form errors (empty if fine).

    Normalises `data` in place (trimmed secrets, the caller-ID number in E.164), so
    that what is stored is exactly what was checked: a pasted trailing space would
    otherwise pass here and fail authentication forever after.
    """
    errors: dict[str, str] = {}
    for key in (CONF_ACCOUNT_SID, CONF_AUTH_TOKEN, CONF_OPENAI_API_KEY):
        data[key] = data[key].strip()
    try:
        data[CONF_FROM_NUMBER] = normalize_e164(data[CONF_FROM_NUMBER])
    except InvalidPhoneNumberError:
        errors[CONF_FROM_NUMBER] = "invalid_phone_format"
    base_urls = (data[CONF_OPENAI_BASE_URL], data[CONF_TWILIO_BASE_URL])
    if not all(_is_http_url(url) for url in base_urls):
        errors["base"] = "invalid_base_url"
        return errors

    twilio = TwilioRestClient(
        async_get_clientsession(hass),
        data[CONF_ACCOUNT_SID],
        data[CONF_AUTH_TOKEN],
        base_url=data[CONF_TWILIO_BASE_URL],
    )
    try:
        await twilio.async_get_account()
        if CONF_FROM_NUMBER not in errors and not await twilio.async_owns_number(
            data[CONF_FROM_NUMBER]
        ):
            errors[CONF_FROM_NUMBER] = "invalid_number"
    except TwilioAuthError:
        errors[CONF_AUTH_TOKEN] = "twilio_invalid_auth"
    except TwilioError as err:
        LOGGER.debug("Twilio check failed: %s", err)
        errors["base"] = "twilio_cannot_connect"

    client = await async_create_openai_client(
        hass, data[CONF_OPENAI_API_KEY], data[CONF_OPENAI_BASE_URL]
    )
    try:
        await async_check_openai(client)
    except openai.AuthenticationError:
        errors[CONF_OPENAI_API_KEY] = "openai_invalid_auth"
    except openai.OpenAIError as err:
        LOGGER.debug("OpenAI check failed: %s", err)
        errors.setdefault("base", "openai_cannot_connect")
    return errors


async def _async_validate_safely(
    hass: HomeAssistant, data: dict[str, Any]
) -> dict[str, str]:
    """Validate, turning an unexpected failure into the form's "unknown" error."""
    try:
        return await async_validate_account(hass, data)
    except Exception:  # noqa: BLE001 - shown as "unknown", logged with the traceback
        LOGGER.exception("Unexpected error while checking the account")
        return {"base": "unknown"}


def _title(from_number: str) -> str:
    """The entry's name: the caller-ID's last four digits.

    Enough to tell two entries apart (two masked digits were not), but not the
    whole number: Home Assistant writes entry titles into its log (an entry that
    is not ready, a failed setup), and logs never carry full phone numbers.
    """
    return f"Wake-up Coach …{from_number[-4:]}"


def _unique_id(data: Mapping[str, Any]) -> str:
    """One entry per Twilio account and caller-ID number."""
    return f"{data[CONF_ACCOUNT_SID]}_{data[CONF_FROM_NUMBER]}"


class WakeupCoachConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the Twilio and OpenAI accounts."""

    VERSION = 1
    MINOR_VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Sleepers are subentries."""
        return {SUBENTRY_SLEEPER: SleeperSubentryFlow}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Models and call limits."""
        return WakeupCoachOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for both accounts and check them live."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _flatten(user_input)
            if not (errors := await _async_validate_safely(self.hass, data)):
                await self.async_set_unique_id(_unique_id(data))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=_title(data[CONF_FROM_NUMBER]), data=data
                )
        values = user_input or {}
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                _account_schema(
                    with_sid=True, collapsed=_advanced_collapsed(values, errors)
                ),
                values,
            ),
            errors=errors,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Twilio or OpenAI refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take a new Twilio auth token and/or OpenAI key; blank keeps the old one."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **{k: v for k, v in user_input.items() if v}}
            if not (errors := await _async_validate_safely(self.hass, data)):
                return self._async_update_and_reload(entry, data, "reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(CONF_AUTH_TOKEN): PASSWORD,
                    vol.Optional(CONF_OPENAI_API_KEY): PASSWORD,
                }
            ),
            description_placeholders={"title": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change anything but the Twilio account itself."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            changes = {k: v for k, v in _flatten(user_input).items() if v}
            data = {**entry.data, **changes}
            if not (errors := await _async_validate_safely(self.hass, data)):
                unique_id = _unique_id(data)
                if any(
                    other.unique_id == unique_id
                    for other in self._async_current_entries(include_ignore=False)
                    if other.entry_id != entry.entry_id
                ):
                    return self.async_abort(reason="already_configured")
                return self._async_update_and_reload(
                    entry,
                    data,
                    "reconfigure_successful",
                    unique_id=unique_id,
                    title=_title(data[CONF_FROM_NUMBER]),
                )
        values = user_input or _nest(entry.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _account_schema(
                    with_sid=False, collapsed=_advanced_collapsed(values, errors)
                ),
                values,
            ),
            errors=errors,
        )

    def _async_update_and_reload(
        self,
        entry: ConfigEntry,
        data: dict[str, Any],
        reason: str,
        **changes: Any,
    ) -> ConfigFlowResult:
        """Store new data; the update listener reloads a loaded entry.

        An entry that failed to set up has no listener, so it is reloaded here.
        (HA 2025.4 has no flow helper that updates without reloading.)
        """
        # Read the state first: the listener starts reloading inside async_update_entry.
        has_listener = entry.state is ConfigEntryState.LOADED
        self.hass.config_entries.async_update_entry(entry, data=data, **changes)
        if not has_listener:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason=reason)


class WakeupCoachOptionsFlow(OptionsFlow):
    """Models, call length and redialling, and how realtime calls travel."""

    _webhook: WebhookSetup | None = None

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One form with every option; model names and the OpenAI project are checked."""
        errors: dict[str, str] = {}
        try:
            models = await self._async_models()
        except Exception:  # noqa: BLE001 - shown as "unknown", logged with the traceback
            LOGGER.exception("Unexpected error while listing the OpenAI models")
            models, errors = None, {"base": "unknown"}
        stored = self.config_entry.options
        if self._webhook is None:
            # Made once per flow: the URL shown stays the one that is stored.
            self._webhook = await async_webhook_setup(self.hass, stored)
        if user_input is not None and not errors:
            errors = _model_errors(user_input, models)
            words = [
                w.strip() for w in user_input.get(CONF_MAGIC_WORDS, []) if w.strip()
            ]
            options = {**user_input, CONF_MAGIC_WORDS: words}
            if not errors:
                errors = await async_sip_errors(
                    self.hass, self.config_entry.data, stored, options, self._webhook
                )
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                _options_schema(_engines(models)),
                user_input or suggested(stored),
            ),
            errors=errors,
            description_placeholders={"webhook_url": self._webhook.url or "-"},
        )

    async def _async_models(self) -> set[str] | None:
        """The account's models, or None when OpenAI cannot say (names are then not checked)."""
        data = self.config_entry.data
        client = await async_create_openai_client(
            self.hass,
            data[CONF_OPENAI_API_KEY],
            data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
        )
        try:
            return await async_list_models(client)
        except openai.OpenAIError as err:
            LOGGER.warning(
                "Model names are not checked: OpenAI did not list them (%s)", err
            )
            return None


def _engines(models: set[str] | None) -> list[EngineKind]:
    """Engines the account has a model for (all of them when that is unknown)."""
    if models is None:
        return list(EngineKind)
    found = {engine_of_model(model) for model in models}
    return [engine for engine in EngineKind if engine in found] or [EngineKind.REALTIME]


def _model_errors(
    user_input: dict[str, Any], models: set[str] | None
) -> dict[str, str]:
    """A model name the account does not have, on the field that names it."""
    if models is None:
        return {}
    errors: dict[str, str] = {}
    if user_input[CONF_CHAT_MODEL] not in models:
        errors[CONF_CHAT_MODEL] = "model_not_found"
    for key, engine in (
        (CONF_REALTIME_MODEL, EngineKind.REALTIME),
        (CONF_LIVE_MODEL, EngineKind.LIVE),
    ):
        model = user_input[key]
        chosen = user_input[CONF_REALTIME_ENGINE] == engine
        if (chosen and model not in models) or (
            model in models and engine_of_model(model) is not engine
        ):
            errors[key] = "model_not_found"
    return errors


def _options_schema(engines: list[EngineKind]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_CHAT_MODEL, default=DEFAULT_CHAT_MODEL): TEXT,
            vol.Required(
                CONF_REALTIME_ENGINE, default=EngineKind.REALTIME.value
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[engine.value for engine in engines],
                    translation_key=CONF_REALTIME_ENGINE,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            vol.Required(CONF_REALTIME_MODEL, default=DEFAULT_REALTIME_MODEL): TEXT,
            vol.Required(CONF_LIVE_MODEL, default=DEFAULT_LIVE_MODEL): TEXT,
            **sip_fields(),
            vol.Required(
                CONF_MAX_CALL_MINUTES, default=DEFAULT_MAX_CALL_MINUTES
            ): _number(1, 60, "min"),
            vol.Required(CONF_RING_TIMEOUT, default=DEFAULT_RING_TIMEOUT): _number(
                5, 120, "s"
            ),
            vol.Required(CONF_REDIAL_DELAY, default=DEFAULT_REDIAL_DELAY): _number(
                0, 1800, "s"
            ),
            vol.Required(
                CONF_REDIAL_ATTEMPTS, default=DEFAULT_REDIAL_ATTEMPTS
            ): _number(0, 10, None),
            vol.Required(
                CONF_CATCH_UP_MINUTES, default=DEFAULT_CATCH_UP_MINUTES
            ): _number(0, 120, "min"),
            vol.Optional(
                CONF_MAGIC_WORDS, default=list(DEFAULT_MAGIC_WORDS)
            ): TextSelector(TextSelectorConfig(multiple=True)),
        }
    )


def _number(minimum: int, maximum: int, unit: str | None) -> vol.All[Any]:
    config = NumberSelectorConfig(
        min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return vol.All(NumberSelector(config), vol.Coerce(int))


def _sleeper_schema(language: str) -> vol.Schema:
    """The sleeper form; `language` joins the offered ones if it is not among them."""
    languages = list(LANGUAGES)
    if language not in languages:  # a code typed in before the list was closed
        languages.append(language)
    return vol.Schema(
        {
            vol.Required(CONF_NAME): TEXT,
            vol.Required(CONF_PHONE_NUMBER): PHONE,
            vol.Optional(CONF_AREA): AreaSelector(),
            # Shown by name in its own language ("Deutsch (Deutschland)").
            vol.Required(CONF_LANGUAGE, default=DEFAULT_LANGUAGE): LanguageSelector(
                LanguageSelectorConfig(languages=languages, native_name=True)
            ),
            vol.Required(CONF_VOICE, default=DEFAULT_VOICE): TEXT,
            vol.Required(
                CONF_REALTIME_VOICE, default=DEFAULT_REALTIME_VOICE
            ): SelectSelector(
                SelectSelectorConfig(
                    options=list(REALTIME_VOICES),
                    custom_value=True,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            vol.Required(CONF_WEEKDAYS, default=list(WEEKDAYS)): SelectSelector(
                SelectSelectorConfig(
                    options=list(WEEKDAYS),
                    multiple=True,
                    translation_key=CONF_WEEKDAYS,
                )
            ),
            vol.Optional(CONF_VERIFICATION_ENTITIES, default=[]): EntitySelector(
                EntitySelectorConfig(domain=VERIFICATION_DOMAINS, multiple=True)
            ),
            vol.Optional(CONF_ONLY_WHEN): EntitySelector(
                EntitySelectorConfig(domain=["binary_sensor", "calendar"])
            ),
            vol.Optional(CONF_PERSONA_NOTES, default=""): TextSelector(
                TextSelectorConfig(multiline=True)
            ),
        }
    )


def _voice_placeholders(values: Mapping[str, Any]) -> dict[str, str]:
    """What the voice error names: the voice's language, the chosen one, a voice for it."""
    language = values.get(CONF_LANGUAGE, DEFAULT_LANGUAGE)
    voice = values.get(CONF_VOICE, DEFAULT_VOICE)
    return {
        "language": language,
        "voice_language": voice_language(voice) or language,
        "example_voice": example_voice(language),
    }


class SleeperSubentryFlow(ConfigSubentryFlow):
    """Add or change a person to wake."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a sleeper; their device is put in the chosen area when it is created."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(user_input)
            if not (errors := self._validate(data, exclude=None)):
                return self.async_create_entry(
                    title=data[CONF_NAME],
                    data=data,
                    unique_id=data[CONF_PHONE_NUMBER],
                )
        return self._show_form("user", user_input or {}, errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a sleeper; the area field moves their device."""
        subentry = self._get_reconfigure_subentry()
        devices = dr.async_get(self.hass)
        device = async_sleeper_device(
            self.hass, self._get_entry().entry_id, subentry.subentry_id
        )
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(user_input)
            if not (errors := self._validate(data, exclude=subentry.subentry_id)):
                if device is not None:
                    devices.async_update_device(device.id, area_id=data.get(CONF_AREA))
                return self.async_update_and_abort(
                    self._get_entry(),
                    subentry,
                    title=data[CONF_NAME],
                    data=data,
                    unique_id=data[CONF_PHONE_NUMBER],
                )
        current = {k: v for k, v in subentry.data.items() if k != CONF_AREA}
        if device is not None and device.area_id is not None:
            current[CONF_AREA] = device.area_id  # where the device is now
        return self._show_form("reconfigure", user_input or current, errors)

    def _show_form(
        self, step_id: str, values: dict[str, Any], errors: dict[str, str]
    ) -> SubentryFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _sleeper_schema(values.get(CONF_LANGUAGE, DEFAULT_LANGUAGE)), values
            ),
            errors=errors,
            description_placeholders=_voice_placeholders(values),
        )

    def _validate(self, data: dict[str, Any], *, exclude: str | None) -> dict[str, str]:
        """Normalise the phone number and voice in place; return form errors."""
        errors: dict[str, str] = {}
        data[CONF_NAME] = data[CONF_NAME].strip()
        if not data[CONF_NAME]:
            errors[CONF_NAME] = "name_required"
        try:
            data[CONF_PHONE_NUMBER] = normalize_e164(data[CONF_PHONE_NUMBER])
        except InvalidPhoneNumberError:
            errors[CONF_PHONE_NUMBER] = "invalid_phone_format"
        else:
            if any(
                other.unique_id == data[CONF_PHONE_NUMBER]
                for entry in self.hass.config_entries.async_entries(DOMAIN)
                for other in entry.subentries.values()
                if other.subentry_id != exclude
            ):
                # Also in another entry: two entries would call one phone at once.
                errors[CONF_PHONE_NUMBER] = "phone_already_configured"
        data[CONF_VOICE] = data[CONF_VOICE].strip()
        if not voice_matches(data[CONF_VOICE], data[CONF_LANGUAGE]):
            errors[CONF_VOICE] = "voice_language_mismatch"
        if not data[CONF_WEEKDAYS]:
            errors[CONF_WEEKDAYS] = "no_weekdays"
        return errors
