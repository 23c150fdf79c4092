"""Home Assistant's real frontend in headless Chromium, against hass and the simulator."""
