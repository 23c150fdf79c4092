"""Tests of the Twilio and OpenAI simulator itself."""
