"""The Twilio REST client against the simulated Twilio."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.wakeup_coach.twilio_rest import (
    TwilioAuthError,
    TwilioConnectionError,
    TwilioError,
    TwilioRestClient,
)
from simulator.accounts import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from simulator.server import Simulator


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain aiohttp session, as HA's shared one would be."""
    async with aiohttp.ClientSession() as session:
        yield session


def client(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    token: str = DEFAULT_AUTH_TOKEN,
) -> TwilioRestClient:
    """A client for the simulated account."""
    return TwilioRestClient(
        session, DEFAULT_ACCOUNT_SID, token, base_url=simulator.twilio_base_url
    )


async def test_account(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    """Fetching the account sends Basic auth and reads Twilio's fields."""
    account = await client(simulator, session).async_get_account()
    assert account.sid == DEFAULT_ACCOUNT_SID
    assert account.status == "active"


async def test_wrong_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """401 becomes TwilioAuthError with Twilio's code."""
    with pytest.raises(TwilioAuthError) as err:
        await client(simulator, session, "nope").async_get_account()
    assert err.value.status == 401
    assert err.value.code == 20003


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retryable_statuses(
    simulator: Simulator, session: aiohttp.ClientSession, status: int
) -> None:
    """Rate limits and server errors are connection errors: worth retrying."""
    simulator.fail("twilio", ".json", status=status)
    with pytest.raises(TwilioConnectionError) as err:
        await client(simulator, session).async_get_account()
    assert err.value.status == status


async def test_other_client_errors(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Other 4xx are plain TwilioErrors, not retried."""
    simulator.fail("twilio", ".json", status=404)
    with pytest.raises(TwilioError) as err:
        await client(simulator, session).async_get_account()
    assert type(err.value) is TwilioError
    assert err.value.status == 404


async def test_dropped_connection(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A connection closed mid-request, twice, is a connection error.

    (aiohttp itself retries an idempotent request once after a disconnect.)
    """
    simulator.fail("twilio", ".json", disconnect=True, times=2)
    with pytest.raises(TwilioConnectionError):
        await client(simulator, session).async_get_account()


async def test_timeout(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    """A Twilio that does not answer in time is a connection error."""
    simulator.fail("twilio", ".json", delay=1.0)
    slow = TwilioRestClient(
        session,
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        base_url=simulator.twilio_base_url,
        timeout=0.1,
    )
    with pytest.raises(TwilioConnectionError):
        await slow.async_get_account()
