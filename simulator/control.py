"""The simulator's own endpoints: what calls happened, and which sleeper answers.

Only for this machine, and not for web pages: every control route wants a loopback
Host header (a page whose host name was rebound to 127.0.0.1 still sends its own name),
and a POST must declare JSON, which a page of another origin can only send after a
CORS preflight that the simulator never grants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import html
import re
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from .sleepers import SCRIPTS

if TYPE_CHECKING:
    from .phone_network import CallRecord
    from .server import Simulator

ControlHandler = Callable[[web.Request], Awaitable[web.Response]]

# 127.0.0.1, localhost or [::1], with any port or none.
LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")


def local_only(handler: ControlHandler) -> ControlHandler:
    """Refuse a request for another host (403) or a POST without JSON (415)."""

    async def checked(request: web.Request) -> web.Response:
        host = request.headers.get(hdrs.HOST, "")
        if not LOOPBACK_HOST.fullmatch(host.lower()):
            return web.json_response(
                {"error": "the control API answers only 127.0.0.1, localhost or [::1]"},
                status=403,
            )
        if (
            request.method == hdrs.METH_POST
            and request.content_type != "application/json"
        ):
            return web.json_response(
                {"error": "send JSON, with Content-Type: application/json"},
                status=415,
            )
        return await handler(request)

    return checked


def call_summary(record: CallRecord) -> dict[str, Any]:
    """A call as the control API shows it."""
    return {
        "sid": record.sid,
        "to": record.to,
        "script": record.script.name,
        "status": record.status,
        "answered_by": record.answered_by,
        "ended_by": record.ended_by,
        "duration": record.duration,
        "application_error": record.application_error,
        "transcript": [
            {"speaker": who, "text": text} for who, text in record.transcript
        ],
        "streams": len(record.stream_sids),
        "proofs": record.proofs,
    }


PAGE = """<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Wake-up Coach simulator</title>
<style>body{{font:15px system-ui;margin:2em;max-width:60em}}td,th{{padding:.2em .6em;text-align:left;vertical-align:top}}
.coach{{color:#1c345e}}.sleeper{{color:#a15c00}}.twilio{{color:#b00}}</style>
<h1>Wake-up Coach simulator</h1>
<p>Simulated Twilio and OpenAI. Sleepers answer with these scripts (default: <b>{default}</b>): {scripts}</p>
<table><tr><th>Call</th><th>Sleeper</th><th>Status</th><th>Conversation</th></tr>{rows}</table>"""


def routes(sim: Simulator) -> list[web.RouteDef]:
    """Inspection and scripting endpoints under /_sim."""

    async def page(request: web.Request) -> web.Response:
        rows = []
        for call in reversed(list(sim.network.calls.values())):
            record = call.record
            lines = "<br>".join(
                f'<span class="{who}">{html.escape(who)}: {html.escape(text)}</span>'
                for who, text in record.transcript
            )
            status = record.status + (
                f" ({record.application_error})" if record.application_error else ""
            )
            rows.append(
                f"<tr><td>{record.sid[:10]}…</td><td>{html.escape(record.script.name)}</td>"
                f"<td>{html.escape(status)}</td><td>{lines}</td></tr>"
            )
        default = sim.network.default_script.name
        scripts = ", ".join(html.escape(name) for name in SCRIPTS)
        return web.Response(
            text=PAGE.format(default=default, scripts=scripts, rows="".join(rows)),
            content_type="text/html",
        )

    async def calls(request: web.Request) -> web.Response:
        return web.json_response(
            [call_summary(c.record) for c in sim.network.calls.values()]
        )

    async def scripts(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "scripts": {
                    name: script.description for name, script in SCRIPTS.items()
                },
                "default": sim.network.default_script.name,
                "numbers": {
                    number: script.name
                    for number, script in sim.network.scripts.items()
                },
            }
        )

    async def set_script(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response(
                {"error": 'send a JSON object: {"script": ..., "number": ...}'},
                status=400,
            )
        script = SCRIPTS.get(str(body.get("script")))
        if script is None:
            return web.json_response(
                {"error": f"unknown script; choose one of {sorted(SCRIPTS)}"},
                status=400,
            )
        if number := body.get("number"):
            sim.network.scripts[str(number)] = script
        else:
            sim.network.default_script = script
        return await scripts(request)

    async def openai_project(request: web.Request) -> web.Response:
        """The OpenAI project as its settings pages show it: id, webhook and its secret."""
        return web.json_response(
            {
                "project_id": sim.world.openai_project,
                "webhook_url": sim.sip.webhook_url,
                "webhook_secret": sim.world.openai_webhook_secret,
            }
        )

    async def set_webhook(request: web.Request) -> web.Response:
        """Point the project's webhook at a URL (what the user pastes into OpenAI)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        url = body.get("url") if isinstance(body, dict) else None
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            return web.json_response(
                {"error": 'send {"url": "https://..."} (or null to remove it)'},
                status=400,
            )
        sim.sip.webhook_url = url
        return await openai_project(request)

    return [
        web.get("/_sim/openai", local_only(openai_project)),
        web.post("/_sim/openai/webhook", local_only(set_webhook)),
        web.get("/_sim/", local_only(page)),
        web.get("/_sim/calls", local_only(calls)),
        web.get("/_sim/scripts", local_only(scripts)),
        web.post("/_sim/scripts", local_only(set_script)),
    ]
