"""What a realtime call's bridge costs, against the least a bridge can do.

Run with scripts/bench (or pytest -s on this file). Prints JSON; asserts nothing
about time. Options (tests/benchmarks/conftest.py): --rt-quick (a smoke run: N =
10 and 50, one 4 s run each), --rt-steps (10,50,100,150,200,250,300),
--rt-engines (realtime,live), --rt-window (seconds measured per run, 10),
--rt-repeats (runs per step and bridge, 3), --rt-warmup (2), --rt-cps (calls
placed per second, 25), --rt-delta-ms (audio per OpenAI delta, 100), --rt-no-stop,
--rt-keep-host-limit, --rt-out (also write the JSON there), --rt-profile (a
directory for a cProfile of each ramp and window).

Set-up. Home Assistant runs in the pytest process with the integration loaded
(one entry, as many sleepers as the largest step, no entity platforms) and
serves its real HTTP application (middlewares and all) on a loopback socket.
The load runs in another process (loadgen.py: a lean fake Twilio and a lean fake
OpenAI for each engine), so the CPU time of this process is Home Assistant's and
the bridge's. Each call goes the integration's real way, unchanged: the entry's
call manager places it in realtime mode (what the wakeup_coach.call action does)
against the fake Twilio's Calls.json, --rt-cps calls a second; Twilio posts its
signed status callbacks, fetches the TwiML, opens the signed Media Stream with
the token <Parameter> and the CallSid in `start`; the engine opens its session
on the fake OpenAI. At the end of a run Twilio stops each stream and posts
`completed`; the bench waits until every call has ended and every OpenAI session
is closed, and checks that each one ended cleanly (ended_cleanly: every stream
stopped by Twilio, every `completed` callback taken, every call's result
not_awake, no fallback). The test's own teardown fails on any task or timer
left running.

The floor (floor.py) is a view on the same HTTP application that only rewraps
payloads between the two envelopes; the load generator opens the same streams
to it at the same pace, against the same fake OpenAI. At each N, ours and the
floor run --rt-repeats times each, interleaved (ours first, then the floor first,
and so on). Before each run the bench waits (up to 30 s) until the rest of the
machine uses under half a core: other people's tests share it.

Per run (N concurrent calls of one engine, through ours or the floor), over a
window of steady streaming that starts --rt-warmup s after every stream carries
audio both ways:
- up_ms / down_ms: bridge latency per frame (median, p99, max): a Twilio media
  frame sent -> the matching append arriving at OpenAI; an OpenAI audio delta
  sent -> the matching Twilio media arriving at Twilio. Frames are matched by
  their bytes (an id in the μ-law payload, which passes through untouched) and
  timed with time.monotonic() in the load generator (one clock for all
  processes on Linux). Twilio sends 20 ms frames; OpenAI sends 100 ms deltas.
- cpu_s_per_call_minute: CPU time (user + system, all threads) of the Home
  Assistant process during the window, per minute of call; net_...: less what
  the same process burns with no call (measured once, "idle").
- first_audio_ms: the first delta of each reply (Realtime: each response;
  GPT-Live: each line of the coach's continuous track) -> its media at Twilio;
  greeting_ms: the first delta of a session -> Twilio, counted from when Twilio's
  stream had started if the greeting was made before (greeting_before_stream
  says how often); greetings happen during the ramp, while other calls are
  being placed. The fake model thinks 0.5 s before its first delta, 0.2 s before
  later ones.
- barge_in_ms (Realtime, ours only): input_audio_buffer.speech_started sent by
  OpenAI -> `clear` arriving at Twilio; half the replies are talked over.
- loop_lag_ms: lateness of a 25 ms periodic timer on Home Assistant's loop.
- ramp_cpu_ms_per_call: CPU of this process while the calls were being placed,
  per call (placing, plus the streaming of the calls already placed).
- Validity: loadgen_cpu_cores (the load generator's own CPU, of one core),
  loadgen_pacing_late_ms (how late it sent frames), lost frames, other_cores
  (CPU used by everything else on the machine meanwhile, from /proc/stat),
  others_before_cores and quiet_wait_s (the wait for a quiet machine).
The repeats of a run are folded into one figure each: the median of their
medians and p99s, the largest maximum ("repeats" keeps each run's key figures).
compare: ours / floor for CPU, ours - floor for latencies (ms).

Steps grow until ours has p99 above one frame (20 ms) in either direction, or a
run cannot be carried out (streams fail to start, frames are lost, a call does
not end cleanly, or the load generator saturates its core); max_n_under_20ms is
the largest N whose p99 stayed under 20 ms both ways. "verdict" checks the
targets.

Event-loop debug mode (on in Home Assistant's tests) is switched off, as in
production, and log records below WARNING are dropped (HA's default level).
HA's shared aiohttp session allows 100 connections per host, and each OpenAI
WebSocket holds one, so a 101st concurrent call cannot reach OpenAI: the bench
lifts that cap (reported in the JSON; --rt-keep-host-limit keeps it) so that
more than 100 calls can be measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
import cProfile
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
from homeassistant.const import Platform, __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach.const import (
    CONF_ACCOUNT_SID,
    CONF_AUTH_TOKEN,
    CONF_FROM_NUMBER,
    CONF_LANGUAGE,
    CONF_NAME,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_PHONE_NUMBER,
    CONF_REALTIME_VOICE,
    CONF_TWILIO_BASE_URL,
    DOMAIN,
    SUBENTRY_SLEEPER,
)
from custom_components.wakeup_coach.models import CallMode, EngineKind

from .floor import FloorView
from .loadgen import LoopLag, summary

REPO = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
OPENAI_KEY = "sk-bench"
FROM_NUMBER = "+15550100000"
FRAME_MS = 20
# A run starts once everything else on the machine uses less than this (cores)...
QUIET_CORES = 0.5
# ... or after this many seconds of waiting for it.
QUIET_WAIT = 30.0
TARGETS = {
    "cpu_ratio_max": 1.5,
    "p99_over_floor_max_ms": 1.0,
    "first_audio_max_ms": 20.0,
    "barge_in_p99_max_ms": 5.0,
    "max_n_min": 100,
}


@dataclass(frozen=True)
class Settings:
    """What to run (the --rt-* options of tests/benchmarks/conftest.py)."""

    window: float
    warmup: float
    steps: list[int]
    engines: list[str]
    delta_ms: int
    repeats: int
    calls_per_second: float
    stop_past_frame: bool
    keep_host_limit: bool
    out: str | None
    profile: str | None


@pytest.fixture
def settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings; --rt-quick is a smoke run."""

    def option(name: str, default: Any) -> Any:
        value = pytestconfig.getoption(name, None)
        return default if value is None else value

    quick = bool(option("rt_quick", default=False))
    steps = option("rt_steps", "10,50" if quick else "10,50,100,150,200,250,300")
    return Settings(
        window=float(option("rt_window", 4 if quick else 10)),
        warmup=float(option("rt_warmup", 1 if quick else 2)),
        steps=[int(n) for n in str(steps).split(",") if n],
        engines=[e for e in str(option("rt_engines", "realtime,live")).split(",") if e],
        delta_ms=int(option("rt_delta_ms", 100)),
        repeats=int(option("rt_repeats", 1 if quick else 3)),
        calls_per_second=float(option("rt_cps", 25)),
        stop_past_frame=not option("rt_no_stop", default=False),
        keep_host_limit=bool(option("rt_keep_host_limit", default=False)),
        out=option("rt_out", None),
        profile=option("rt_profile", None),
    )


def progress(text: str) -> None:
    """One line on stderr, so that stdout keeps only the JSON."""
    sys.stderr.write(f"[bench_realtime] {text}\n")
    sys.stderr.flush()


class LoadGen:
    """The load generator's process and its control API."""

    def __init__(self, process: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
        self.process = process
        self.twilio_url = f"http://127.0.0.1:{ports['twilio_port']}"
        self.openai_url = f"http://127.0.0.1:{ports['openai_port']}/v1"
        self.http: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        assert self.http is not None
        async with self.http.request(
            method, f"{self.twilio_url}/bench/{path}", json=body
        ) as response:
            response.raise_for_status()
            return await response.json()


@pytest.fixture
def platforms() -> list[Platform]:
    """No entities: the bench is about the stream, and hundreds of sleepers."""
    return []


@pytest.fixture
async def loadgen(socket_enabled: None) -> AsyncGenerator[LoadGen]:
    """The load generator, in a process of its own."""
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "tests.benchmarks.loadgen"],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(
        None, process.stdout.readline
    )
    gen = LoadGen(process, json.loads(line))
    gen.http = aiohttp.ClientSession()
    await gen.call(
        "POST", "configure", {"auth_token": AUTH_TOKEN, "account_sid": ACCOUNT_SID}
    )
    yield gen
    try:
        await gen.call("POST", "quit")
    finally:
        await gen.http.close()
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: process.wait(timeout=10)
            )
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def account_data(loadgen: LoadGen) -> dict[str, Any]:
    """The entry's accounts live on the load generator."""
    return {
        CONF_ACCOUNT_SID: ACCOUNT_SID,
        CONF_AUTH_TOKEN: AUTH_TOKEN,
        CONF_FROM_NUMBER: FROM_NUMBER,
        CONF_OPENAI_API_KEY: OPENAI_KEY,
        CONF_OPENAI_BASE_URL: loadgen.openai_url,
        CONF_TWILIO_BASE_URL: loadgen.twilio_url,
    }


@pytest.fixture
def mock_config_entry(
    account_data: dict[str, Any], settings: Settings
) -> MockConfigEntry:
    """One entry with as many sleepers as the largest step calls at once."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach bench",
        unique_id=f"{ACCOUNT_SID}_{FROM_NUMBER}",
        data=account_data,
        subentries_data=[
            {
                "data": {
                    CONF_NAME: f"Sleeper {index}",
                    CONF_PHONE_NUMBER: f"+1555020{index:04d}",
                    CONF_LANGUAGE: "en-US",
                    CONF_REALTIME_VOICE: "marin",
                },
                "subentry_id": f"01JBENCHSLEEPER{index:010d}",
                "subentry_type": SUBENTRY_SLEEPER,
                "title": f"Sleeper {index}",
                "unique_id": f"+1555020{index:04d}",
            }
            for index in range(max(settings.steps))
        ],
    )


@pytest.fixture
def floor_view(
    hass: HomeAssistant, init_integration: MockConfigEntry, loadgen: LoadGen
) -> None:
    """Registered before Home Assistant's HTTP server starts serving (routes freeze then)."""
    hass.http.register_view(
        FloorView(loadgen.openai_url.replace("http://", "ws://"), OPENAI_KEY)
    )


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Records below WARNING are dropped, as at Home Assistant's default level."""
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


def _loadavg() -> list[str]:
    """The machine's load averages (1, 5, 15 min)."""
    return Path("/proc/loadavg").read_text().split()[:3]


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def _cpu_busy() -> float:
    """Seconds of CPU used by the whole machine since boot (all cores, not idle)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Bench:
    """The whole run: every engine, every step, ours and the floor."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MockConfigEntry,
        gen: LoadGen,
        base: str,
        settings: Settings,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.gen = gen
        self.settings = settings
        self.floor_url = base.replace("http://", "ws://") + "/api/bench/floor"
        self.profiles = 0

    async def wait(self, condition: Any, what: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await condition():
                return True
            await asyncio.sleep(0.1)
        progress(f"timed out waiting for {what}")
        return False

    async def status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.gen.call("GET", "status")
        return result

    async def run_step(self, target: str, engine: str, n: int) -> dict[str, Any]:
        """N calls through one bridge: place, warm up, measure, hang up."""
        manager = self.entry.runtime_data.calls
        quiet = await self.quiet()
        await self.gen.call(
            "POST",
            "step",
            {
                "target": target,
                "engine": engine,
                "n": n,
                "floor_url": self.floor_url,
                "delta_ms": self.settings.delta_ms,
                "calls_per_second": self.settings.calls_per_second,
            },
        )
        placed_at = time.monotonic()
        ramp_cpu = time.process_time()
        profiler = cProfile.Profile() if self.settings.profile else None
        if profiler is not None:
            profiler.enable()
        if target == "ours":
            # Paced like Twilio's calls-per-second limit, not all in one burst.
            placing = []
            for sleeper in list(manager.sleepers.values())[:n]:
                placing.append(
                    asyncio.create_task(
                        manager.async_place_call(
                            sleeper, CallMode.REALTIME, engine=EngineKind(engine)
                        )
                    )
                )
                await asyncio.sleep(1 / self.settings.calls_per_second)
            await asyncio.gather(*placing)

        async def flowing() -> bool:
            status = await self.status()
            return bool(
                status.get("streams_flowing", 0) >= n
                and status.get("sessions_flowing", 0) >= n
            )

        started = await self.wait(flowing, f"{n} streams flowing", 30 + n * 0.3)
        if profiler is not None:
            profiler.disable()
            self.dump(profiler, f"{engine}-{n}-{target}-ramp")
        result: dict[str, Any] = {
            "setup_s": round(time.monotonic() - placed_at, 2),
            # Placing the calls, and the streaming of those already placed meanwhile.
            "ramp_cpu_ms_per_call": round(
                (time.process_time() - ramp_cpu) / n * 1000, 2
            ),
            **quiet,
        }
        if started:
            result |= await self.measure(f"{engine}-{n}-{target}")
            # Frames sent at the end of the window are still on their way: they are
            # not lost, so the streams go on a moment before they stop.
            await asyncio.sleep(1)
        else:
            result["failed"] = "not every stream carried audio both ways"
            result["status"] = await self.status()
        await self.gen.call("POST", "hang_up")

        async def ended() -> bool:
            status = await self.status()
            return bool(
                status.get("sessions", 1) == 0
                and status.get("open_streams", 1) == 0
                and not manager.calls_of()
                and FloorView.active == 0
            )

        if not await self.wait(ended, "every call to end", 60):
            result["not_ended"] = await self.status()
        result |= await self.gen.call("GET", "result")
        ended = result["ended"]
        clean = ended["streams_stopped_by_twilio"] == n and "not_ended" not in result
        if target == "ours":
            calls = list(manager.history)[:n]
            result["call_results"] = sorted({str(call["result"]) for call in calls})
            if fallbacks := sorted(
                {str(c["fallback_reason"]) for c in calls if c["fallback_reason"]}
            ):
                result["fallbacks"] = fallbacks
            clean = (
                clean
                and ended["completed_callbacks_taken"] == n
                and result["call_results"] == ["not_awake"]
                and not fallbacks
            )
        # Every call ended as a hang-up does: Twilio stopped the stream, HA took the
        # `completed` callback and closed the OpenAI session; no call fell back.
        result["ended_cleanly"] = clean
        return result

    async def measure(self, name: str) -> dict[str, Any]:
        """CPU time and loop lag of this process over the window (and a profile)."""
        loop = asyncio.get_running_loop()
        window = self.settings.window
        start = time.monotonic() + self.settings.warmup
        end = start + window
        await self.gen.call("POST", "window", {"start": start, "end": end})
        lag = LoopLag()
        marks: dict[str, float] = {}
        profiler = cProfile.Profile() if self.settings.profile else None

        def begin() -> None:
            marks["cpu"] = time.process_time()
            marks["busy"] = _cpu_busy()
            lag.start()
            if profiler is not None:
                profiler.enable()

        def finish() -> None:
            if profiler is not None:
                profiler.disable()
            marks["cpu_end"] = time.process_time()
            marks["busy_end"] = _cpu_busy()
            lag.stop()

        loop.call_at(start, begin)
        loop.call_at(end, finish)
        await asyncio.sleep(end - time.monotonic() + 0.05)
        while "cpu_end" not in marks:
            await asyncio.sleep(0.01)
        cpu = marks["cpu_end"] - marks["cpu"]
        if profiler is not None:
            self.dump(profiler, name)
        return {
            "cpu_s": round(cpu, 3),
            "cpu_cores": round(cpu / window, 3),
            "busy_cores": round((marks["busy_end"] - marks["busy"]) / window, 3),
            "loop_lag_ms": summary(lag.samples),
        }

    def dump(self, profiler: cProfile.Profile, name: str) -> None:
        self.profiles += 1
        profiler.dump_stats(f"{self.settings.profile}/{name}-{self.profiles}.prof")

    async def quiet(self) -> dict[str, Any]:
        """Wait (a while) until the rest of the machine leaves the cores to the bench.

        Other people's tests share the machine: a run waits until everything else
        together used under half a core for a second, at most QUIET_WAIT seconds.
        """
        waited = 0.0
        while True:
            busy, cpu = _cpu_busy(), time.process_time()
            await asyncio.sleep(1)
            waited += 1
            others = _cpu_busy() - busy - (time.process_time() - cpu)
            if others < QUIET_CORES or waited >= QUIET_WAIT:
                return {"others_before_cores": round(others, 2), "quiet_wait_s": waited}

    async def idle(self) -> dict[str, Any]:
        """The same measurement with no call: Home Assistant's own background."""
        await self.gen.call(
            "POST", "step", {"target": "idle", "engine": "none", "n": 0}
        )
        result = await self.measure("idle")
        result |= {
            "loadgen_cpu_cores": (await self.gen.call("GET", "result"))[
                "loadgen_cpu_cores"
            ]
        }
        return result

    async def run(self, idle_cores: float) -> dict[str, Any]:
        """Every engine, N growing until p99 passes one frame."""
        output: dict[str, Any] = {}
        for engine in self.settings.engines:
            steps: list[dict[str, Any]] = []
            for index, n in enumerate(self.settings.steps):
                runs: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": []}
                for repeat in range(self.settings.repeats):
                    order = ("ours", "floor")
                    if (index + repeat) % 2:
                        order = ("floor", "ours")
                    for target in order:
                        progress(f"{engine} N={n} {target} #{repeat + 1}")
                        run = self.finish_figures(
                            await self.run_step(target, engine, n), n, idle_cores
                        )
                        runs[target].append(run)
                        progress(f"  {brief(run)}")
                figures = {target: aggregate(runs[target]) for target in runs}
                steps.append(
                    {
                        "n": n,
                        "ours": figures["ours"],
                        "floor": figures["floor"],
                        "compare": compare(figures),
                    }
                )
                if not keeps_up(figures["ours"]) or (
                    self.settings.stop_past_frame and over_frame(figures["ours"])
                ):
                    break
            output[engine] = {
                "steps": steps,
                "max_n_under_20ms": {
                    target: max(
                        (
                            s["n"]
                            for s in steps
                            if keeps_up(s[target]) and not over_frame(s[target])
                        ),
                        default=0,
                    )
                    for target in ("ours", "floor")
                },
            }
        return output

    def finish_figures(
        self, result: dict[str, Any], n: int, idle_cores: float
    ) -> dict[str, Any]:
        if "cpu_s" in result:
            call_minutes = n * self.settings.window / 60
            result["cpu_s_per_call_minute"] = round(result["cpu_s"] / call_minutes, 3)
            # Less what the idle process burns anyway (timers, HA's own upkeep).
            result["net_cpu_s_per_call_minute"] = round(
                (result["cpu_s"] - idle_cores * self.settings.window) / call_minutes,
                3,
            )
            result["other_cores"] = round(
                result["busy_cores"]
                - result["cpu_cores"]
                - result["loadgen_cpu_cores"],
                3,
            )
        return result


SUMMARY_KEYS = {"median", "p99", "max", "count"}
REPEAT_KEYS = (
    "cpu_s_per_call_minute",
    "up_ms",
    "down_ms",
    "loop_lag_ms",
    "other_cores",
)


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The repeats of one step as one: the median of each figure across them.

    Percentiles are the median of each repeat's (one disturbed repeat moves them
    little); maxima the largest; counts add up; errors are merged.
    """
    if len(runs) == 1:
        return runs[0]
    result: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if key in run]
        if all(isinstance(v, dict) and set(v) >= SUMMARY_KEYS for v in values):
            merged: dict[str, Any] = {}
            for stat in ("median", "p99"):
                numbers = [v[stat] for v in values if v[stat] is not None]
                merged[stat] = round(statistics.median(numbers), 3) if numbers else None
            maxima = [v["max"] for v in values if v["max"] is not None]
            merged["max"] = max(maxima, default=None)
            merged["count"] = sum(v["count"] for v in values)
            result[key] = merged
        elif all(isinstance(v, bool) for v in values):
            result[key] = all(values)
        elif all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            result[key] = round(statistics.median(values), 3)
        elif all(isinstance(v, dict) for v in values):
            counts: dict[str, Any] = {}
            for value in values:
                for name, count in value.items():
                    counts[name] = (
                        counts.get(name, 0) + count if isinstance(count, int) else count
                    )
            result[key] = counts
        elif all(isinstance(v, list) for v in values):
            result[key] = sorted({item for v in values for item in v})
        else:
            result[key] = values[0]
    if any("cpu_s" not in run for run in runs):
        result["failed"] = [run.get("failed") for run in runs if "cpu_s" not in run]
    result["repeats"] = [
        {
            key: (run[key]["p99"] if isinstance(run.get(key), dict) else run.get(key))
            for key in REPEAT_KEYS
        }
        for run in runs
    ]
    return result


def brief(figures: dict[str, Any]) -> str:
    """One progress line."""
    if "cpu_s_per_call_minute" not in figures:
        return f"failed: {figures.get('failed')} {figures.get('errors')}"
    return (
        f"cpu/call-min {figures['cpu_s_per_call_minute']} "
        f"(net {figures['net_cpu_s_per_call_minute']})  "
        f"up p99 {figures['up_ms']['p99']}  down p99 {figures['down_ms']['p99']}  "
        f"first p99 {figures['first_audio_ms']['p99']}  "
        f"greet max {figures['greeting_ms']['max']}  "
        f"barge p99 {figures['barge_in_ms']['p99']}  "
        f"lag p99 {figures['loop_lag_ms']['p99']}  "
        f"loadgen {figures['loadgen_cpu_cores']}  other {figures['other_cores']}  "
        f"setup {figures['setup_s']}s (ramp {figures['ramp_cpu_ms_per_call']} ms cpu/call, waited {figures['quiet_wait_s']}s)  "
        f"errors {figures['errors']}"
    )


def keeps_up(figures: dict[str, Any]) -> bool:
    """The step ran: every stream started, frames arrived, the load generator kept pace."""
    if (
        "cpu_s" not in figures
        or figures.get("errors")
        or not figures.get("ended_cleanly")
    ):
        return False
    sent = figures["frames_up"] + figures["frames_down"]
    lost = figures["lost_up"] + figures["lost_down"]
    return bool(sent > 0 and lost / sent < 0.01 and figures["loadgen_cpu_cores"] < 0.95)


def over_frame(figures: dict[str, Any]) -> bool:
    """p99 above one frame in either direction."""
    return any(
        (figures.get(key) or {}).get("p99") is None or figures[key]["p99"] > FRAME_MS
        for key in ("up_ms", "down_ms")
    )


def compare(figures: dict[str, Any]) -> dict[str, Any]:
    """Ours against the floor: CPU as a ratio, latencies as differences in ms."""
    ours, floor = figures["ours"], figures["floor"]
    if "cpu_s_per_call_minute" not in ours or "cpu_s_per_call_minute" not in floor:
        return {}
    result: dict[str, Any] = {
        "cpu_ratio": round(
            ours["cpu_s_per_call_minute"] / floor["cpu_s_per_call_minute"], 2
        ),
        "net_cpu_ratio": round(
            ours["net_cpu_s_per_call_minute"]
            / max(floor["net_cpu_s_per_call_minute"], 1e-6),
            2,
        ),
    }
    for key in ("up_ms", "down_ms", "loop_lag_ms"):
        for stat in ("median", "p99"):
            a, b = ours[key][stat], floor[key][stat]
            if a is not None and b is not None:
                result[f"{key[:-3]}_{stat}_over_floor_ms"] = round(a - b, 3)
    return result


def _worst(steps: list[dict[str, Any]], key: str) -> float | None:
    """The largest p99 of one of ours' figures over these steps."""
    values = [
        value
        for step in steps
        if (value := (step["ours"].get(key) or {}).get("p99")) is not None
    ]
    return max(values, default=None)


def verdict(engines: dict[str, Any]) -> dict[str, Any]:
    """Which targets the run met."""
    result: dict[str, Any] = {}
    for engine, data in engines.items():
        steps = {step["n"]: step for step in data["steps"]}
        checks: dict[str, Any] = {}
        ratios = [s["compare"]["cpu_ratio"] for s in steps.values() if s["compare"]]
        checks["cpu_ratio_max"] = max(ratios, default=None)
        checks["cpu_at_most_1.5x_floor"] = bool(ratios) and max(ratios) <= 1.5
        for n in (10, 50):
            if n in steps and steps[n]["compare"]:
                over = max(
                    steps[n]["compare"].get("up_p99_over_floor_ms", 1e9),
                    steps[n]["compare"].get("down_p99_over_floor_ms", 1e9),
                )
                checks[f"p99_over_floor_at_{n}_ms"] = over
                checks[f"p99_within_1ms_of_floor_at_{n}"] = over <= 1.0
        # First audio and barge-in at the steps the machine carried (p99 under a
        # frame); a saturated machine delays everything alike.
        carried = [
            s
            for s in steps.values()
            if keeps_up(s["ours"]) and not over_frame(s["ours"])
        ]

        first = [
            v
            for v in (_worst(carried, "first_audio_ms"), _worst(carried, "greeting_ms"))
            if v is not None
        ]
        checks["first_audio_p99_max_ms"] = max(first, default=None)
        checks["first_audio_under_20ms"] = bool(first) and max(first) < 20
        if engine == "realtime":
            barge = _worst(carried, "barge_in_ms")
            checks["barge_in_p99_max_ms"] = barge
            checks["barge_in_p99_under_5ms"] = barge is not None and barge < 5
        checks["max_n_under_20ms"] = data["max_n_under_20ms"]["ours"]
        checks["max_n_at_least_100"] = data["max_n_under_20ms"]["ours"] >= 100
        result[engine] = checks
    return result


async def test_realtime_bridge(  # noqa: PLR0917 - pytest fixtures
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    floor_view: None,
    loadgen: LoadGen,
    hass_client_no_auth: Any,
    quiet_logs: None,
    settings: Settings,
) -> None:
    """Measure, print JSON; nothing about time is asserted."""
    client = await hass_client_no_auth()
    base = f"http://127.0.0.1:{client.server.port}"
    await hass.config.async_update(external_url=base)
    asyncio.get_running_loop().set_debug(False)
    connector = async_get_clientsession(hass).connector
    assert connector is not None
    limit_per_host = connector.limit_per_host
    if not settings.keep_host_limit:
        connector._limit_per_host = 0
    load_before = _loadavg()
    started = time.monotonic()
    bench = Bench(hass, init_integration, loadgen, base, settings)
    idle = await bench.idle()
    engines = await bench.run(idle["cpu_cores"])
    output = {
        "config": {
            "window_s": settings.window,
            "warmup_s": settings.warmup,
            "steps": settings.steps,
            "repeats": settings.repeats,
            "calls_per_second": settings.calls_per_second,
            "twilio_frame_ms": FRAME_MS,
            "openai_delta_ms": settings.delta_ms,
            "barge_in_share_of_replies": 0.5,
            "machine": {
                "cores": os.cpu_count(),
                "loadavg_before": load_before,
                "loadavg_after": _loadavg(),
            },
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "home_assistant": ha_version,
            "ha_client_limit_per_host": (
                limit_per_host
                if settings.keep_host_limit
                else f"{limit_per_host}, lifted to unlimited"
            ),
            "idle": idle,
            "run_s": round(time.monotonic() - started, 1),
        },
        "engines": engines,
        "targets": TARGETS,
        "verdict": verdict(engines),
    }
    text = json.dumps(output, indent=1)
    print(text)  # noqa: T201
    if settings.out:
        _write(settings.out, text + "\n")
