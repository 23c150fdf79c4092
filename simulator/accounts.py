"""Who exists in the simulated world: Twilio accounts, their numbers, OpenAI keys."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "simulated-auth-token-0123456789ab"
DEFAULT_FROM_NUMBER = "+15550100100"
DEFAULT_OPENAI_KEY = "sk-simulated-0123456789"
# The OpenAI project the key belongs to, and the signing secret OpenAI shows when a
# project webhook is created (Standard Webhooks: "whsec_" and base64 of the key).
DEFAULT_OPENAI_PROJECT = "proj_simulated0123456789"
DEFAULT_WEBHOOK_SECRET = "whsec_c2ltdWxhdGVkLXdlYmhvb2stc2lnbmluZy1rZXktMzJi"


@dataclass
class TwilioAccountState:
    """One Twilio account."""

    sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    friendly_name: str = "Simulated account"
    incoming_numbers: list[str] = field(default_factory=lambda: [DEFAULT_FROM_NUMBER])
    verified_caller_ids: list[str] = field(default_factory=list)


@dataclass
class SimulatedWorld:
    """Everything the simulator knows up front."""

    twilio_accounts: list[TwilioAccountState] = field(
        default_factory=lambda: [TwilioAccountState()]
    )
    openai_keys: list[str] = field(default_factory=lambda: [DEFAULT_OPENAI_KEY])
    openai_project: str = DEFAULT_OPENAI_PROJECT
    openai_webhook_secret: str = DEFAULT_WEBHOOK_SECRET

    def twilio_account(self, sid: str) -> TwilioAccountState | None:
        """The account with this SID, if any."""
        return next((a for a in self.twilio_accounts if a.sid == sid), None)
