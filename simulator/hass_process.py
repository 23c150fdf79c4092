"""A real `hass` process on a free port, as scripts/develop runs it, for whole-system tests.

The smoke test and the browser tests start Home Assistant the same way: a fresh copy
of the development instance's configuration, loopback only, the simulator's proof
hook turning on the sleeper's "out of bed" helper, and the log's tail shown when
startup fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import os
from pathlib import Path
import shutil
import socket
import sys

from .ha_bootstrap import PROOF_ENTITY, turn_on_proof, write_http_config
from .server import Simulator

REPO = Path(__file__).resolve().parent.parent
# Seconds Home Assistant gets to stop before it is killed.
STOP_SECONDS = 60
# In the configuration directory: the simulated phone's token for turning on the proof.
TOKEN_FILE = ".simulator_token"


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_config_dir(parent: Path) -> Path:
    """A copy of the development instance's configuration, without its state."""
    config = parent / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "configuration.yaml", config)
    (config / "automations.yaml").write_text("[]\n", encoding="utf-8")
    return config


@asynccontextmanager
async def hass_process(config_dir: Path, simulator: Simulator) -> AsyncIterator[str]:
    """Start `hass` on a free loopback port and yield its URL; stop it on exit.

    The caller waits for it to be up. If the body raises, the end of Home
    Assistant's log goes to stderr: a startup that fails says why.
    """
    url = f"http://127.0.0.1:{free_port()}"
    write_http_config(config_dir, url)
    hass_bin = shutil.which("hass") or str(Path(sys.executable).with_name("hass"))
    log_path = config_dir.parent / "hass.log"
    token_file = config_dir / TOKEN_FILE

    async def prove(record: object) -> None:
        status = await turn_on_proof(simulator.session, url, token_file, PROOF_ENTITY)
        if status != 200:
            msg = f"turning on {PROOF_ENTITY} answered HTTP {status}"
            raise RuntimeError(msg)

    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            hass_bin, "--config", str(config_dir),
            env={**os.environ, "PYTHONPATH": str(REPO), "WAKEUP_DEVELOP_URL": url},
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        simulator.proof_hooks.append(prove)
        try:
            yield url
        except BaseException:
            log.flush()
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-5000:]
            sys.stderr.write(tail)
            raise
        finally:
            simulator.proof_hooks.remove(prove)
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), STOP_SECONDS)
                except TimeoutError:
                    process.kill()
                    await process.wait()
