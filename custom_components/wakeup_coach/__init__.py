"""Wake-up Coach: an AI phone call that keeps you talking until you are out of bed."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType
import openai

from . import log_redact
from .call_manager import CallManager
from .call_session import CallSession
from .const import (
    CONF_ACCOUNT_SID,
    CONF_AREA,
    CONF_AUTH_TOKEN,
    CONF_CATCH_UP_MINUTES,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_REDIAL_ATTEMPTS,
    CONF_REDIAL_DELAY,
    CONF_TWILIO_BASE_URL,
    DEFAULT_CATCH_UP_MINUTES,
    DEFAULT_OPENAI_BASE_URL,
    DEFAULT_REDIAL_ATTEMPTS,
    DEFAULT_REDIAL_DELAY,
    DEFAULT_TWILIO_BASE_URL,
    DOMAIN,
    LOGGER,
    SUBENTRY_SLEEPER,
)
from .credentials import (
    all_issue_ids as credentials_issue_ids,
    async_credentials_accepted,
    async_credentials_issue,
)
from .data import WakeupCoachConfigEntry, WakeupCoachData
from .entity import async_create_sleeper_device
from .models import SleeperConfig
from .openai_client import async_check_openai, async_create_openai_client
from .public_url import ISSUE_NO_PUBLIC_URL, ISSUE_NOT_HTTPS, async_check_public_url
from .realtime import ISSUE_STREAM
from .scheduler import AlarmOptions, AlarmState, SleeperAlarm
from .selftest import ISSUE_SELFTEST, SelfTester
from .selftest_view import SelfTestStreamView, SelfTestTwimlView
from .services import async_setup_services
from .sip_call import ISSUE_SIP
from .sip_options import async_remove_cloudhook
from .sip_webhook import async_setup_sip_webhook
from .sleeper import Sleeper
from .store import AlarmStore, SettingsStore
from .stream_view import TwilioStreamView
from .twilio_rest import TwilioAuthError, TwilioError, TwilioRestClient
from .views import TwilioCallView

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and Twilio's endpoints, which exist while no entry is loaded."""
    async_setup_services(hass)
    # Home Assistant logs the paths it serves: not the secret parts of ours.
    log_redact.install()
    # Before the call and stream views: their paths start the same way.
    hass.http.register_view(SelfTestTwimlView())
    hass.http.register_view(SelfTestStreamView())
    hass.http.register_view(TwilioCallView())
    hass.http.register_view(TwilioStreamView())
    return True


async def async_setup_entry(hass: HomeAssistant, entry: WakeupCoachConfigEntry) -> bool:
    """Check both accounts, load the sleepers' settings and add their entities."""
    twilio = TwilioRestClient(
        async_get_clientsession(hass),
        entry.data[CONF_ACCOUNT_SID],
        entry.data[CONF_AUTH_TOKEN],
        base_url=entry.data.get(CONF_TWILIO_BASE_URL, DEFAULT_TWILIO_BASE_URL),
    )
    try:
        await twilio.async_get_account()
    except TwilioAuthError as err:
        async_credentials_issue(hass, entry.entry_id, "twilio")
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="twilio_auth_failed"
        ) from err
    except TwilioError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="twilio_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    async_credentials_accepted(hass, entry.entry_id, "twilio")

    client = await async_create_openai_client(
        hass,
        entry.data[CONF_OPENAI_API_KEY],
        entry.data.get(CONF_OPENAI_BASE_URL, DEFAULT_OPENAI_BASE_URL),
    )
    try:
        await async_check_openai(client)
    except openai.AuthenticationError as err:
        async_credentials_issue(hass, entry.entry_id, "openai")
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="openai_auth_failed"
        ) from err
    except openai.OpenAIError as err:
        # Calls still go out and speak fallback lines without OpenAI, so an outage
        # must not keep the alarms from loading.
        LOGGER.warning("OpenAI is not reachable at the moment: %s", err)
    else:
        async_credentials_accepted(hass, entry.entry_id, "openai")

    store = SettingsStore(hass, entry.entry_id)
    sleeper_subentries = {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_SLEEPER
    }
    settings = await store.async_load(set(sleeper_subentries))
    sleepers = {
        subentry_id: Sleeper(
            SleeperConfig.from_subentry(subentry_id, subentry.data),
            settings[subentry_id],
            save=partial(store.async_schedule_save, subentry_id),
        )
        for subentry_id, subentry in sleeper_subentries.items()
    }
    for subentry_id, subentry in sleeper_subentries.items():
        async_create_sleeper_device(
            hass, entry.entry_id, sleepers[subentry_id], subentry.data.get(CONF_AREA)
        )

    twilio_base = entry.data.get(CONF_TWILIO_BASE_URL, DEFAULT_TWILIO_BASE_URL)
    # Real Twilio only calls https (and wss) URLs; a simulator or gateway may not need it.
    require_https = twilio_base == DEFAULT_TWILIO_BASE_URL
    calls = CallManager(
        hass,
        entry_id=entry.entry_id,
        entry_data=dict(entry.data),
        options=dict(entry.options),
        twilio=twilio,
        openai_client=client,
        sleepers=sleepers,
        require_https=require_https,
    )
    for stop in calls.async_start():
        entry.async_on_unload(stop)
    # Where OpenAI announces SIP calls, while they are set up.
    entry.async_on_unload(async_setup_sip_webhook(hass, entry.options, calls))

    async def _hang_up_on_stop(_event: Event) -> None:
        # Entries are not unloaded when HA stops; live calls would only hit errors.
        await calls.async_shutdown()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _hang_up_on_stop)
    )
    async_check_public_url(hass, entry.entry_id, require_https=require_https)
    selftest = SelfTester(
        hass,
        entry_id=entry.entry_id,
        auth_token=entry.data[CONF_AUTH_TOKEN],
        require_https=require_https,
    )
    calls.preflight = selftest.async_realtime_preflight
    calls.stream_listeners.append(selftest.record_stream)

    @callback
    def _credentials_refused(service: str) -> None:
        async_credentials_issue(hass, entry.entry_id, service)
        if service == "openai":
            # (Twilio's refusal reloads the entry, whose setup asks for new ones.)
            entry.async_start_reauth(hass)

    calls.credentials_listeners.append(_credentials_refused)
    alarm_store = AlarmStore(hass, entry.entry_id)
    alarms = await _async_alarms(hass, entry, sleepers, calls, alarm_store)
    entry.runtime_data = WakeupCoachData(
        twilio=twilio,
        openai=client,
        sleepers=sleepers,
        store=store,
        alarm_store=alarm_store,
        calls=calls,
        alarms=alarms,
        selftest=selftest,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    @callback
    def _start_alarms(_hass: HomeAssistant) -> None:
        # Once Home Assistant runs: a late alarm needs the HTTP server Twilio calls back.
        for alarm in alarms.values():
            entry.async_on_unload(alarm.async_start())

    entry.async_on_unload(async_at_started(hass, _start_alarms))

    @callback
    def _start_selftest(_hass: HomeAssistant) -> None:
        # Through Home Assistant's own HTTP server, so once it answers.
        calls.spawn(selftest.async_run(), "connectivity self-test")

    entry.async_on_unload(async_at_started(hass, _start_selftest))
    # Options, sleepers added, changed or removed, new credentials: start over cleanly.
    entry.async_on_unload(entry.add_update_listener(_async_reload_entry))
    return True


async def _async_alarms(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    sleepers: dict[str, Sleeper],
    calls: CallManager,
    alarm_store: AlarmStore,
) -> dict[str, SleeperAlarm]:
    """Each sleeper's alarm clock, with what it had scheduled before."""
    stored = await alarm_store.async_load()
    options = AlarmOptions(
        redial_delay=timedelta(
            seconds=int(entry.options.get(CONF_REDIAL_DELAY, DEFAULT_REDIAL_DELAY))
        ),
        redial_attempts=int(
            entry.options.get(CONF_REDIAL_ATTEMPTS, DEFAULT_REDIAL_ATTEMPTS)
        ),
        catch_up=timedelta(
            minutes=int(
                entry.options.get(CONF_CATCH_UP_MINUTES, DEFAULT_CATCH_UP_MINUTES)
            )
        ),
    )
    alarms: dict[str, SleeperAlarm] = {}

    def save() -> None:
        alarm_store.async_save({sid: alarm.state for sid, alarm in alarms.items()})

    for subentry_id, sleeper in sleepers.items():
        alarms[subentry_id] = SleeperAlarm(
            hass,
            sleeper,
            AlarmState.from_dict(stored.get(subentry_id) or {}),
            host=calls,
            options=options,
            save=save,
        )
        tracker = calls.proof[subentry_id]

        @callback
        def _proof(alarm: SleeperAlarm = alarms[subentry_id]) -> None:
            # Proof between two alarm calls: the sleeper is up, no redial.
            if alarm.host.current_call_id(alarm.sleeper) is None:
                alarm.stop_ladder("proof of being up arrived")

        entry.async_on_unload(tracker.add_listener(_proof))

    @callback
    def _finished(session: CallSession) -> None:
        if alarm := alarms.get(session.sleeper.subentry_id):
            alarm.call_finished(session)

    calls.finished_listeners.append(_finished)
    return alarms


# What Twilio signs a call's requests with and where the call is controlled: when
# these change, a call in progress cannot be followed any longer anyway.
CALL_CREDENTIALS = (CONF_ACCOUNT_SID, CONF_AUTH_TOKEN, CONF_TWILIO_BASE_URL)


async def _async_reload_entry(
    hass: HomeAssistant, entry: WakeupCoachConfigEntry
) -> None:
    calls = entry.runtime_data.calls
    if any(
        entry.data.get(key) != calls.entry_data.get(key) for key in CALL_CREDENTIALS
    ):
        await hass.config_entries.async_reload(entry.entry_id)
        return
    if calls.busy:
        LOGGER.info("The changed settings apply once the call in progress has ended")

    @callback
    def _reload() -> None:
        # Not if the entry was unloaded or reloaded meanwhile.
        if entry.state is ConfigEntryState.LOADED and entry.runtime_data.calls is calls:
            hass.config_entries.async_schedule_reload(entry.entry_id)

    # Reloading mid-call would hang up someone being woken.
    calls.async_when_idle(_reload)


async def async_unload_entry(
    hass: HomeAssistant, entry: WakeupCoachConfigEntry
) -> bool:
    """Remove the entities and write settings that are still waiting to be saved."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.calls.async_shutdown()
        await entry.runtime_data.selftest.async_shutdown()
        await entry.runtime_data.store.async_flush()
        await entry.runtime_data.alarm_store.async_flush()
    return unloaded


async def async_remove_entry(
    hass: HomeAssistant, entry: WakeupCoachConfigEntry
) -> None:
    """Delete the sleepers' stored settings and the entry's repair issues with the entry."""
    await SettingsStore(hass, entry.entry_id).async_remove()
    await AlarmStore(hass, entry.entry_id).async_remove()
    for issue in (ISSUE_NO_PUBLIC_URL, ISSUE_STREAM, ISSUE_SIP):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry.entry_id}")
    for issue in (ISSUE_NOT_HTTPS, ISSUE_SELFTEST):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry.entry_id}")
    for issue_id in credentials_issue_ids(entry.entry_id):
        ir.async_delete_issue(hass, DOMAIN, issue_id)
    await async_remove_cloudhook(hass, entry.options)
