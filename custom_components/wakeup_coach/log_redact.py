"""Keep the secret parts of the integration's URLs out of other components' logs.

A call's URLs carry an unguessable call id and single-use tokens (the self-test's
carry its test tokens): whoever reads them while the call is live could forge a
request. Home Assistant logs the path of every request it serves at DEBUG
(homeassistant.helpers.http), and aiohttp's access log at INFO: a filter on
those two loggers shortens each long segment of this integration's paths to its
first characters, as the integration's own log lines do.
"""

from __future__ import annotations

import logging
import re

# The loggers that write request paths.
PATH_LOGGERS = ("homeassistant.helpers.http", "aiohttp.access")
# A path of this integration, up to the first character that ends a path.
OUR_PATH = re.compile(r"/api/wakeup_coach/[^\s\"'?#]*")
# Ids and tokens are long; endpoint names ("voice", "status", "selftest") are not.
SECRET_SEGMENT = re.compile(r"[\w-]{16,}")
KEEP = 6


def redact(text: str) -> str:
    """The text with the ids and tokens in this integration's paths shortened."""
    return OUR_PATH.sub(
        lambda path: SECRET_SEGMENT.sub(
            lambda segment: f"{segment.group()[:KEEP]}…", path.group()
        ),
        text,
    )


class RedactPaths(logging.Filter):
    """Shortens ids and tokens in the integration's paths, in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if isinstance(record.msg, str) and "/api/wakeup_coach/" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def install() -> None:
    """Add the filter to the loggers that write request paths (once per process)."""
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactPaths) for existing in logger.filters):
            logger.addFilter(RedactPaths())
