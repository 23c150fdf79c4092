"""Run the simulator on its own: python -m simulator --port 8124.

The development instance (scripts/develop) starts it like this. With --ha-url and
--ha-token-file, a sleeper's "proof" line turns on the entity given by --proof-entity
(as the user whose token the file holds: Alice's phone, see ha_bootstrap).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path
import signal

from .ha_bootstrap import turn_on_proof
from .phone_network import CallRecord
from .server import Simulator
from .sleepers import DEFAULT_SCRIPT, SCRIPTS

LOGGER = logging.getLogger("simulator")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="how much faster than real time"
    )
    parser.add_argument(
        "--script",
        default=DEFAULT_SCRIPT,
        choices=sorted(SCRIPTS),
        help="default sleeper",
    )
    parser.add_argument("--ha-url", help="Home Assistant, for proof lines")
    parser.add_argument(
        "--ha-token-file", help="file holding an access token for --ha-url"
    )
    parser.add_argument("--proof-entity", help="input_boolean a proof line turns on")
    return parser.parse_args()


async def main() -> None:
    """Serve until interrupted."""
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(message)s")
    sim = Simulator(speed=args.speed)
    sim.network.default_script = SCRIPTS[args.script]
    if args.ha_url and args.ha_token_file and args.proof_entity:

        async def prove(record: CallRecord) -> None:
            status = await turn_on_proof(
                sim.session, args.ha_url, Path(args.ha_token_file), args.proof_entity
            )
            LOGGER.info("sleeper got up: %s turned on (%s)", args.proof_entity, status)

        sim.proof_hooks.append(prove)
    sim.call_hooks.append(
        lambda record: LOGGER.info(
            "call %s placed (%s answers)", record.sid, record.script.name
        )
    )
    await sim.start(args.host, args.port)
    LOGGER.info(
        "Twilio and OpenAI simulated on %s (calls: %s/_sim/)",
        sim.base_url,
        sim.base_url,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
