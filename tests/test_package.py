"""What hassfest and HACS would check, for files we cannot run them on here."""

from __future__ import annotations

import json
from pathlib import Path
import re

from awesomeversion import AwesomeVersion
import yaml

from custom_components.wakeup_coach.const import DOMAIN, EVENT_TYPES
from custom_components.wakeup_coach.services import HANDLERS

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / DOMAIN


def load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((COMPONENT / name).read_text(encoding="utf-8"))


def test_manifest() -> None:
    """Keys sorted as hassfest wants (domain, name, then alphabetical); HACS's keys present."""
    manifest = load("manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == DOMAIN
    for key in ("codeowners", "documentation", "issue_tracker", "version", "iot_class"):
        assert manifest[key]
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["dependencies"] == ["http", "webhook"]
    # Cloudhooks for OpenAI's SIP webhook, when Home Assistant Cloud is set up.
    assert manifest["after_dependencies"] == ["cloud"]
    assert manifest["config_flow"] is True
    requirements = {re.split(r"[<>=]", r)[0]: r for r in manifest["requirements"]}
    assert requirements == {"openai": "openai>=1.68.2", "twilio": "twilio>=6.32.0"}


def test_hacs() -> None:
    """Only keys the HACS action accepts; the minimum HA version we test against."""
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    allowed = {"name", "content_in_root", "zip_release", "filename", "hide_default_branch",
               "country", "homeassistant", "hacs", "persistent_directory"}  # fmt: skip
    assert set(hacs) <= allowed
    assert hacs["homeassistant"] == "2025.4.0"
    assert (COMPONENT / "brand" / "icon.png").exists()


def test_translations_have_no_urls_and_cover_everything() -> None:
    """Hassfest rejects URLs in strings; every action, field and event type is translated."""
    strings = load("translations/en.json")
    text = json.dumps(strings)
    assert "http://" not in text
    assert "https://" not in text
    services_yaml = yaml.safe_load(
        (COMPONENT / "services.yaml").read_text(encoding="utf-8")
    )
    assert set(services_yaml) == set(HANDLERS) == set(strings["services"])
    for service, spec in services_yaml.items():
        assert set(spec.get("fields", {})) == set(
            strings["services"][service]["fields"]
        )
    event_states = strings["entity"]["event"]["wake_up"]["state_attributes"][
        "event_type"
    ]["state"]
    assert set(event_states) == set(EVENT_TYPES)
    icons = load("icons.json")
    assert set(icons["services"]) == set(HANDLERS)
    for platform, entities in icons["entity"].items():
        assert set(entities) <= set(strings["entity"][platform])
