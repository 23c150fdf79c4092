"""A real nginx in front of Home Assistant's test server: loopback ports, a test certificate.

scripts/lib/envs.sh installs Debian's nginx package (on the host, and in the root
filesystem the latest environment runs in). Each proxy runs as its own process,
from a configuration written for the test, and is always stopped by its fixture.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import ipaddress
import os
from pathlib import Path
import shutil
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_SECONDS = 10.0


def require_nginx() -> None:
    """Skip without nginx, unless scripts/test (CI) asked for these tests to run."""
    if os.access(NGINX, os.X_OK):
        return
    message = "nginx is not installed (scripts/lib/envs.sh ensure_system_packages installs it)"
    if os.environ.get("WAKEUP_REQUIRE_NGINX") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class ProxyCertificates:
    """A certificate authority and a server certificate it signed for localhost."""

    ca_pem: str
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path) -> ProxyCertificates:
    """A fresh CA, and a certificate for localhost and 127.0.0.1, valid for 30 days."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Wake-up Coach test CA")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file = directory / "localhost.crt"
    key_file = directory / "localhost.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ProxyCertificates(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        cert_file=cert_file,
        key_file=key_file,
    )


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Setup(StrEnum):
    """How the proxy in front of Home Assistant is configured."""

    RIGHT = "right"  # TLS, and the Upgrade/Connection headers passed on
    NO_UPGRADE = "no_upgrade"  # TLS, but WebSocket upgrades are not passed on
    FORWARDED_FOR = "forwarded_for"  # adds X-Forwarded-For, which HA does not trust
    PLAIN = "plain"  # no TLS at all


LOCATION = {
    Setup.RIGHT: """
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;""",
    Setup.NO_UPGRADE: "",
    Setup.FORWARDED_FOR: """
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;""",
    Setup.PLAIN: """
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;""",
}


class Nginx:
    """One nginx process proxying a loopback port to Home Assistant's test server."""

    def __init__(self, directory: Path, certificates: ProxyCertificates) -> None:
        self.directory = directory
        self.certificates = certificates
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def _config(self, setup: Setup, upstream_port: int) -> str:
        d = self.directory
        tls = "" if setup is Setup.PLAIN else " ssl"
        certificates = (
            ""
            if setup is Setup.PLAIN
            else f"""
        ssl_certificate {self.certificates.cert_file};
        ssl_certificate_key {self.certificates.key_file};"""
        )
        return f"""
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen 127.0.0.1:{self.port}{tls};
        server_name localhost;{certificates}
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Host $host;{LOCATION[setup]}
            proxy_read_timeout 1h;
        }}
    }}
}}
"""

    async def start(self, setup: Setup, upstream_port: int) -> int:
        """Start proxying; returns the port nginx listens on."""
        require_nginx()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.directory / "nginx.conf"
        config.write_text(self._config(setup, upstream_port), encoding="utf-8")
        self._process = await asyncio.create_subprocess_exec(
            NGINX,
            "-p",
            str(self.directory),
            "-c",
            str(config),
            "-e",
            str(self.directory / "error.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(START_SECONDS):
            while True:
                if self._process.returncode is not None:
                    assert self._process.stderr is not None
                    error = (await self._process.stderr.read()).decode()
                    pytest.fail(f"nginx did not start: {error}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                break
        return self.port

    async def stop(self) -> None:
        """Stop the process and wait for it."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(START_SECONDS):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
