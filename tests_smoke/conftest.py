"""Runs without pytest-homeassistant-custom-component (-p no:homeassistant): a real process."""
