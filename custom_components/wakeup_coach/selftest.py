"""Connectivity self-test: whether Twilio can reach Home Assistant the way a live call needs.

From Home Assistant, through its own public URL (so through the router and the
reverse proxy, the way Twilio comes in), step by step, each one timed:

- url: Home Assistant has an external URL Twilio can use (https for real Twilio);
- dns: its host name resolves;
- connect: a TCP connection to it opens;
- tls: the TLS handshake succeeds and the certificate is valid for the host;
- twiml: a signed request to the integration's TwiML endpoint is answered, by
  this Home Assistant;
- websocket: a signed WebSocket upgrade on the Media Stream path succeeds;
- echo: a frame goes through the socket and comes back signed by this Home
  Assistant (the proxy carries frames both ways).

The first step that fails ends the test. When the public address resolves to a
public IP and nothing answers there, the router may simply not loop connections
from inside back to its own public address (hairpin NAT): Twilio, outside, may
well get through, so the result is inconclusive rather than failed.

The test endpoints (selftest_view.py) only accept short-lived, single-use test
tokens, signed like Twilio's requests with the account's Auth Token.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import hashlib
import hmac
from http import HTTPStatus
import ipaddress
import json
import os
import secrets
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util import dt as dt_util, ssl as ssl_util
from homeassistant.util.hass_dict import HassKey
from twilio.request_validator import RequestValidator

from .call import CALL_PATH, STREAM_PATH
from .call_session import CallSession
from .const import DOMAIN, LOGGER
from .public_url import PublicUrlProblem, async_public_url, async_public_url_issue

# The test endpoints sit beside the real ones, under the same prefixes, so that a
# proxy rule for the real paths applies to them as well.
SELFTEST_TWIML_PATH = f"{CALL_PATH}/selftest"
SELFTEST_STREAM_PATH = f"{STREAM_PATH}/selftest"

ISSUE_SELFTEST = "selftest"
# A test token works this long, once.
TOKEN_SECONDS = 30.0
# Each step's limit, and the whole test's (it may run right before a wake-up call).
DNS_SECONDS = 5.0
CONNECT_SECONDS = 5.0
TLS_SECONDS = 5.0
HTTP_SECONDS = 8.0
ECHO_SECONDS = 5.0
TOTAL_SECONDS = 25.0
# A passed (or inconclusive) result is trusted this long before a live call.
MAX_AGE = timedelta(days=1)
HISTORY_LENGTH = 10


class Verdict(StrEnum):
    """What the self-test concluded."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


class StepStatus(StrEnum):
    """How one step went."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


class Step(StrEnum):
    """The steps, in order."""

    URL = "url"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TWIML = "twiml"
    WEBSOCKET = "websocket"
    ECHO = "echo"


@dataclass(frozen=True)
class StepResult:
    """One step: how it went, how long it took, and what it saw."""

    step: Step
    status: StepStatus
    ms: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For attributes, the action's response and diagnostics."""
        return {
            "status": self.status.value,
            "ms": None if self.ms is None else round(self.ms, 1),
            "detail": self.detail,
        }


@dataclass
class SelfTestResult:
    """One run of the self-test."""

    tested_at: datetime
    host: str | None = None  # scheme://host[:port] of the public URL: no path, no token
    steps: list[StepResult] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """Failed at the first failed step; inconclusive if unsure; passed otherwise."""
        statuses = {step.status for step in self.steps}
        if StepStatus.FAILED in statuses:
            return Verdict.FAILED
        if StepStatus.INCONCLUSIVE in statuses:
            return Verdict.INCONCLUSIVE
        return Verdict.PASSED

    @property
    def failed_step(self) -> StepResult | None:
        """The step that failed (or could not decide), if any."""
        for step in self.steps:
            if step.status in (StepStatus.FAILED, StepStatus.INCONCLUSIVE):
                return step
        return None

    @property
    def total_ms(self) -> float:
        """The time every step took."""
        return sum(step.ms or 0.0 for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """For attributes, the action's response and diagnostics."""
        failed = self.failed_step
        return {
            "result": self.verdict.value,
            "tested_at": self.tested_at.isoformat(),
            "host": self.host,
            "failed_step": failed.step.value if failed else None,
            "detail": failed.detail if failed else "",
            "total_ms": round(self.total_ms, 1),
            "steps": {step.step.value: step.as_dict() for step in self.steps},
        }


@dataclass(frozen=True)
class StreamRecord:
    """Whether Twilio could open the Media Stream of the last live call, and how fast."""

    connected: bool
    at: datetime
    reason: str | None = None
    sleeper: str | None = None
    engine: str | None = None
    # From the TwiML being served to the stream's upgrade (ms).
    connect_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For attributes and diagnostics."""
        return {
            "connected": self.connected,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "sleeper": self.sleeper,
            "engine": self.engine,
            "connect_ms": None
            if self.connect_ms is None
            else round(self.connect_ms, 1),
        }


class StepFailedError(Exception):
    """A step failed; `detail` says what it saw (short, no secrets)."""

    def __init__(self, detail: str, status: StepStatus = StepStatus.FAILED) -> None:
        """Keep what went wrong."""
        super().__init__(detail)
        self.detail = detail
        self.status = status


# --- test tokens ---------------------------------------------------------------------


class TokenUse(StrEnum):
    """Which test endpoint a token opens."""

    TWIML = "twiml"
    STREAM = "stream"


@dataclass(frozen=True)
class Ticket:
    """A test token: which endpoint, the exact URL it was signed for, and the key."""

    use: TokenUse
    url: str
    auth_token: str
    expires: float

    def authentic(self, params: Mapping[str, str], signature: str) -> bool:
        """Whether X-Twilio-Signature signs this ticket's URL with the account's token."""
        if not signature:
            return False
        validator = RequestValidator(self.auth_token)
        return bool(validator.validate(self.url, dict(params), signature))

    def proof(self, nonce: str) -> str:
        """What the endpoint answers a nonce with: only this Home Assistant can."""
        message = f"wakeup_coach selftest {self.use} {self.url} {nonce}".encode()
        return hmac.new(self.auth_token.encode(), message, hashlib.sha256).hexdigest()


class Tickets:
    """The live test tokens of every entry; each works once, for TOKEN_SECONDS."""

    def __init__(self) -> None:
        """None yet."""
        self._tickets: dict[str, Ticket] = {}

    def issue(self, use: TokenUse, base: str, auth_token: str) -> tuple[str, Ticket]:
        """A new token and its ticket, for `base` (http(s)://host[:port], or ws(s)://)."""
        self._expire()
        token = secrets.token_urlsafe(24)
        path = SELFTEST_TWIML_PATH if use is TokenUse.TWIML else SELFTEST_STREAM_PATH
        ticket = Ticket(
            use, f"{base}{path}/{token}", auth_token, time.monotonic() + TOKEN_SECONDS
        )
        self._tickets[token] = ticket
        return token, ticket

    def get(self, token: str, use: TokenUse) -> Ticket | None:
        """The live ticket of a token for this endpoint, or None."""
        self._expire()
        ticket = self._tickets.get(token)
        return ticket if ticket is not None and ticket.use is use else None

    def redeem(self, token: str) -> None:
        """The token is used up."""
        self._tickets.pop(token, None)

    def __len__(self) -> int:
        """How many tokens are live."""
        self._expire()
        return len(self._tickets)

    def _expire(self) -> None:
        now = time.monotonic()
        for token, ticket in list(self._tickets.items()):
            if ticket.expires < now:
                del self._tickets[token]


TICKETS: HassKey[Tickets] = HassKey(f"{DOMAIN}_selftest_tickets")


def tickets(hass: HomeAssistant) -> Tickets:
    """The test tokens, as the test endpoints find them."""
    return hass.data.setdefault(TICKETS, Tickets())


# --- the steps -----------------------------------------------------------------------


def hairpin_suspected(addresses: list[str]) -> bool:
    """Whether the host is only known by public addresses (its router's, from inside).

    Only then can a failed connection be the router's missing hairpin NAT: a
    private address (split DNS, a local proxy) is reached directly.
    """
    try:
        return bool(addresses) and all(
            ipaddress.ip_address(address).is_global for address in addresses
        )
    except ValueError:
        return False


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, from the event loop's resolver (off the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def open_tcp(address: str, port: int) -> asyncio.Transport:
    """A TCP connection to one address."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, address, port)
    return transport


def _describe(err: BaseException) -> str:
    """A short description of a network error, without secrets."""
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate not valid: {err.verify_message}"
    if isinstance(err, ssl.SSLError):
        return f"TLS error: {err.reason or err}"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno).lower()  # "connection refused", not the call
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return type(err).__name__


def _hairpin(detail: str) -> StepFailedError:
    return StepFailedError(
        f"hairpin NAT suspected: {detail}", status=StepStatus.INCONCLUSIVE
    )


class _Run:
    """One run of the steps against one public URL."""

    def __init__(
        self,
        hass: HomeAssistant,
        base: str,
        auth_token: str,
    ) -> None:
        self.hass = hass
        self.base = base
        parts = urlsplit(base)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        self.auth_token = auth_token
        self.addresses: list[str] = []
        self.transport: asyncio.Transport | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.stream_ticket: Ticket | None = None

    async def dns(self) -> str:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            pass
        else:
            self.addresses = [self.host]
            return "an IP address"
        try:
            async with asyncio.timeout(DNS_SECONDS):
                self.addresses = await resolve(self.host, self.port)
        except socket.gaierror as err:
            raise StepFailedError(f"{self.host} does not resolve: {err}") from err
        except TimeoutError as err:
            raise StepFailedError(f"{self.host} did not resolve in time") from err
        if not self.addresses:
            raise StepFailedError(f"{self.host} has no address")
        return ", ".join(self.addresses)

    async def connect(self) -> str:
        errors: list[str] = []
        for address in self.addresses:
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    self.transport = await open_tcp(address, self.port)
            except (OSError, TimeoutError) as err:
                errors.append(f"{address}: {_describe(err)}")
                continue
            return f"{address} port {self.port}"
        detail = f"nothing answered on port {self.port} ({'; '.join(errors)})"
        if hairpin_suspected(self.addresses):
            raise _hairpin(detail)
        raise StepFailedError(detail)

    async def tls(self) -> str:
        transport = self.transport
        assert transport is not None  # noqa: S101 - connect ran first
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(TLS_SECONDS):
                secured = await loop.start_tls(
                    transport,
                    transport.get_protocol(),
                    ssl_util.get_default_context(),
                    server_hostname=self.host,
                    ssl_handshake_timeout=TLS_SECONDS,
                )
        except (OSError, TimeoutError, ssl.SSLError) as err:
            transport.close()
            self.transport = None
            raise StepFailedError(_describe(err)) from err
        if secured is None:
            self.transport = None
            raise StepFailedError("the connection closed during the TLS handshake")
        self.transport = secured
        detail = "certificate valid"
        peer = secured.get_extra_info("peercert")
        if isinstance(peer, dict) and isinstance(
            not_after := peer.get("notAfter"), str
        ):
            expires = datetime.fromtimestamp(
                ssl.cert_time_to_seconds(not_after), dt_util.UTC
            )
            days = (expires - dt_util.utcnow()).days
            detail = f"certificate valid for {days} more days"
        return detail

    def close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    async def twiml(self) -> str:
        self.close_transport()
        token, ticket = tickets(self.hass).issue(
            TokenUse.TWIML, self.base, self.auth_token
        )
        nonce = secrets.token_hex(8)
        form = {"Nonce": nonce}
        signature = RequestValidator(self.auth_token).compute_signature(
            ticket.url, form
        )
        session = async_get_clientsession(self.hass)
        try:
            async with session.post(
                ticket.url,
                data=form,
                headers={"X-Twilio-Signature": signature},
                timeout=aiohttp.ClientTimeout(total=HTTP_SECONDS),
                allow_redirects=False,
            ) as response:
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise StepFailedError(_describe_client(err)) from err
        finally:
            tickets(self.hass).redeem(token)
        if status != HTTPStatus.OK:
            raise StepFailedError(f"answered HTTP {status}")
        if ticket.proof(nonce) not in body:
            raise StepFailedError(
                "answered, but not by this Home Assistant's Wake-up Coach"
            )
        return f"HTTP {status}"

    async def websocket(self) -> str:
        ws_base = ("wss" if self.secure else "ws") + self.base[self.base.index(":") :]
        token, ticket = tickets(self.hass).issue(
            TokenUse.STREAM, ws_base, self.auth_token
        )
        self.stream_ticket = ticket
        signature = RequestValidator(self.auth_token).compute_signature(ticket.url, {})
        session = async_get_clientsession(self.hass)
        try:
            async with asyncio.timeout(HTTP_SECONDS):
                self.ws = await session.ws_connect(
                    ticket.url,
                    headers={"X-Twilio-Signature": signature},
                    autoping=True,
                    max_msg_size=4096,
                )
        except aiohttp.WSServerHandshakeError as err:
            raise StepFailedError(
                f"the upgrade was answered HTTP {err.status}, not 101"
            ) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise StepFailedError(_describe_client(err)) from err
        finally:
            tickets(self.hass).redeem(token)
        return "HTTP 101"

    async def echo(self) -> str:
        ws, ticket = self.ws, self.stream_ticket
        assert ws is not None  # noqa: S101 - websocket ran first
        assert ticket is not None  # noqa: S101
        nonce = secrets.token_hex(8)
        try:
            async with asyncio.timeout(ECHO_SECONDS):
                await ws.send_str(json.dumps({"event": "echo", "nonce": nonce}))
                message = await ws.receive()
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as err:
            raise StepFailedError(f"no echo: {_describe_client(err)}") from err
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise StepFailedError(f"no echo: the socket sent {message.type.name}")
        try:
            answer = json.loads(message.data)
        except ValueError as err:
            raise StepFailedError("the echo was not JSON") from err
        if not isinstance(answer, dict) or not hmac.compare_digest(
            str(answer.get("proof", "")), ticket.proof(nonce)
        ):
            raise StepFailedError("the echo was not signed by this Home Assistant")
        return "signed echo received"

    async def aclose(self) -> None:
        self.close_transport()
        if self.ws is not None:
            await self.ws.close()


def _describe_client(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return _describe(err.certificate_error)
    if isinstance(err, aiohttp.ClientSSLError | aiohttp.ClientConnectorError):
        return _describe(err.os_error)
    return _describe(err)


async def async_run_selftest(
    hass: HomeAssistant, entry_id: str, auth_token: str, *, require_https: bool
) -> SelfTestResult:
    """Run every step once; never raises for a network failure.

    The URL step also creates or clears the public URL repair issues.
    """
    result = SelfTestResult(tested_at=dt_util.utcnow())
    url = async_public_url(hass, require_https=require_https)
    async_public_url_issue(hass, entry_id, url)
    if isinstance(url, PublicUrlProblem):
        result.steps.append(StepResult(Step.URL, StepStatus.FAILED, 0.0, url.value))
        return result
    parts = urlsplit(url)
    result.host = f"{parts.scheme}://{parts.netloc}"
    result.steps.append(StepResult(Step.URL, StepStatus.PASSED, 0.0, result.host))
    run = _Run(hass, result.host, auth_token)
    steps: list[tuple[Step, Callable[[], Awaitable[str]]]] = [
        (Step.DNS, run.dns),
        (Step.CONNECT, run.connect),
        (Step.TLS, run.tls),
        (Step.TWIML, run.twiml),
        (Step.WEBSOCKET, run.websocket),
        (Step.ECHO, run.echo),
    ]
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        for step, action in steps:
            if step is Step.TLS and not run.secure:
                result.steps.append(
                    StepResult(Step.TLS, StepStatus.SKIPPED, None, "plain http")
                )
                continue
            started = time.perf_counter()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    detail = await action()
            except StepFailedError as err:
                status, detail = err.status, err.detail
            except TimeoutError:
                status, detail = StepStatus.FAILED, "timed out"
            except Exception as err:  # noqa: BLE001 - a self-test reports, never crashes
                LOGGER.debug("The %s step failed unexpectedly", step, exc_info=True)
                status, detail = (
                    StepStatus.FAILED,
                    f"unexpected error: {_describe(err)}",
                )
            else:
                status = StepStatus.PASSED
            ms = (time.perf_counter() - started) * 1000
            result.steps.append(StepResult(step, status, ms, detail))
            if status is not StepStatus.PASSED:
                break
    finally:
        await run.aclose()
    return result


def _internal_upstream(hass: HomeAssistant) -> str:
    """Where a proxy in front of Home Assistant forwards to (for the repair issue's snippets)."""
    try:
        return get_url(
            hass, allow_external=False, allow_cloud=False, prefer_external=False
        )
    except NoURLAvailableError:
        port = hass.http.server_port if hass.http else 8123
        return f"http://homeassistant.local:{port}"


def async_selftest_issue(
    hass: HomeAssistant, entry_id: str, result: SelfTestResult
) -> None:
    """The repair issue of a self-test that failed (guidance for the step) or could not tell.

    Cleared when it passes. The URL step has its own issues (no external URL, not https).
    """
    issue_id = f"{ISSUE_SELFTEST}_{entry_id}"
    failed = result.failed_step
    if failed is None or failed.step is Step.URL:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    inconclusive = result.verdict is Verdict.INCONCLUSIVE
    parts = urlsplit(result.host or "")
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING if inconclusive else ir.IssueSeverity.ERROR,
        translation_key=(
            f"{ISSUE_SELFTEST}_inconclusive"
            if inconclusive
            else f"{ISSUE_SELFTEST}_failed_{failed.step}"
        ),
        translation_placeholders={
            "host": parts.hostname or "",
            "port": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "detail": failed.detail,
            "upstream": _internal_upstream(hass),
        },
        learn_more_url="https://www.twilio.com/docs/voice/media-streams",
    )


class SelfTester:
    """The self-test of one entry: runs it, keeps its results, raises its repair issue."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry_id: str,
        auth_token: str,
        require_https: bool,
    ) -> None:
        """Nothing runs until asked."""
        self.hass = hass
        self.entry_id = entry_id
        self.auth_token = auth_token
        self.require_https = require_https
        self.history: deque[SelfTestResult] = deque(maxlen=HISTORY_LENGTH)
        self.last_stream: StreamRecord | None = None
        self._running: asyncio.Task[SelfTestResult] | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def last(self) -> SelfTestResult | None:
        """The latest result."""
        return self.history[0] if self.history else None

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each run; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def async_run(self) -> SelfTestResult:
        """Run the self-test (or join the run in progress) and record its result."""
        if self._running is None or self._running.done():
            self._running = self.hass.async_create_background_task(
                self._run(), f"{DOMAIN} self-test"
            )
        return await asyncio.shield(self._running)

    async def _run(self) -> SelfTestResult:
        result = await async_run_selftest(
            self.hass,
            self.entry_id,
            self.auth_token,
            require_https=self.require_https,
        )
        self.history.appendleft(result)
        failed = result.failed_step
        if failed is None:
            LOGGER.info("Connectivity self-test passed in %.0f ms", result.total_ms)
        else:
            LOGGER.warning(
                "Connectivity self-test %s at the %s step: %s",
                result.verdict,
                failed.step,
                failed.detail,
            )
        async_selftest_issue(self.hass, self.entry_id, result)
        self._notify()
        return result

    def record_stream(
        self,
        session: CallSession | None,
        connected: bool,  # noqa: FBT001 - the call manager's stream listener signature
        reason: str | None,
    ) -> None:
        """Twilio opened a live call's Media Stream, or could not."""
        now = dt_util.utcnow()
        connect_ms = None
        if session is not None and connected:
            served = session.timings.get("twiml_served")
            if served is not None:
                connect_ms = (
                    now - datetime.fromisoformat(served)
                ).total_seconds() * 1000
        self.last_stream = StreamRecord(
            connected=connected,
            at=now,
            reason=reason,
            sleeper=session.sleeper.name if session else None,
            engine=str(session.engine) if session and session.engine else None,
            connect_ms=connect_ms,
        )
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def async_realtime_preflight(self) -> dict[str, str] | None:
        """Before a live call: why it must go turn-based, or None.

        A result older than a day, or a failed one, is run again first.
        """
        last = self.last
        if (
            last is None
            or last.verdict is Verdict.FAILED
            or dt_util.utcnow() - last.tested_at > MAX_AGE
        ):
            last = await self.async_run()
        failed = last.failed_step
        if last.verdict is not Verdict.FAILED or failed is None:
            return None
        return {"mode_reason": "selftest_failed", "selftest_step": failed.step}

    async def async_shutdown(self) -> None:
        """The entry unloads: stop a run in progress."""
        if (running := self._running) is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
