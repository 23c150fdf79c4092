"""The simulator's own endpoints: what calls happened, and which sleeper answers."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .sleepers import SCRIPTS

if TYPE_CHECKING:
    from .phone_network import CallRecord
    from .server import Simulator


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
        body = await request.json()
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

    return [
        web.get("/_sim/", page),
        web.get("/_sim/calls", calls),
        web.get("/_sim/scripts", scripts),
        web.post("/_sim/scripts", set_script),
    ]
