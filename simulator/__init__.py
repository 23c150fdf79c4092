"""A simulator of Twilio and OpenAI for tests and the development instance.

It talks to the integration only over real HTTP (and, for streams, WebSocket)
connections, the way the real services do.
"""
