"""The OpenAI client, built on Home Assistant's shared httpx client."""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers.httpx_client import get_async_client
import openai

from .const import DEFAULT_OPENAI_BASE_URL

VALIDATION_TIMEOUT = 10.0


async def async_create_openai_client(
    hass: HomeAssistant, api_key: str, base_url: str = DEFAULT_OPENAI_BASE_URL
) -> openai.AsyncOpenAI:
    """Create a client; its platform headers are read once off the event loop."""
    client = openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        # openai 3.x types its client against httpx2; HA's httpx client works at runtime.
        http_client=cast("Any", get_async_client(hass)),
        # A wake-up call cannot wait for the SDK's own backoff; callers decide.
        max_retries=0,
    )
    # The SDK inspects the platform on first use, which reads files: do it in the executor.
    await hass.async_add_executor_job(client.platform_headers)
    return client


class ChatUnavailableError(Exception):
    """The model could not answer in time; the call speaks a fallback line instead."""


# Reasoning models spend completion tokens on thinking before they write: with a
# reply-sized budget they return nothing at all. They get room to think, and are
# asked to think little, since a sleeper is waiting on the line.
REASONING_MODELS = re.compile(r"^(o\d|gpt-5)")
REPLY_TOKENS = 150
REASONING_TOKENS = 1500
REASONING_EFFORT = "low"


def _is_reasoning(model: str) -> bool:
    return REASONING_MODELS.match(model) is not None


async def async_chat_reply(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[dict[str, str]],
    *,
    time_limit: float,
) -> str:
    """One chat completion within `time_limit` seconds in all.

    Raises ChatUnavailableError for any failure, a late answer or an empty reply.
    """
    options: dict[str, Any] = {"max_completion_tokens": REPLY_TOKENS}
    if _is_reasoning(model):
        options = {
            "max_completion_tokens": REASONING_TOKENS,
            "reasoning_effort": REASONING_EFFORT,
        }
    try:
        # The SDK's timeout applies to each phase (connect, each read): only an
        # overall deadline keeps the turn inside Twilio's 15 s webhook limit.
        async with asyncio.timeout(time_limit):
            completion = await client.with_options(
                timeout=time_limit
            ).chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                **options,
            )
    except TimeoutError as err:
        raise ChatUnavailableError("no answer in time") from err
    except openai.OpenAIError as err:
        raise ChatUnavailableError(type(err).__name__) from err
    text = (
        (completion.choices[0].message.content or "").strip()
        if completion.choices
        else ""
    )
    if not text:
        raise ChatUnavailableError("empty reply")
    return text


async def async_check_openai(client: openai.AsyncOpenAI) -> None:
    """List models: proves the key and the base URL; raises openai errors."""
    await async_list_models(client)


async def async_list_models(client: openai.AsyncOpenAI) -> set[str]:
    """The ids of every model the key may use; raises openai errors."""
    page = await client.with_options(timeout=VALIDATION_TIMEOUT).models.list()
    return {model.id for model in page.data}
