"""Cloud SQL's server side for cloud-sql-python-connector: certificates and the TLS proxy on port 3307.

The connector reads `connectSettings` (server CA), asks `generateEphemeralCert` to sign its public key, then opens
mutual TLS to the instance IP on port 3307 and speaks the database protocol inside. Here a throwaway CA signs both
sides, and a small proxy terminates TLS and forwards the bytes to a local PostgreSQL (`sqladmin.proxy_upstream`).
"""

import asyncio
import datetime as dt
import ipaddress
import random
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

CERT_LIFETIME = dt.timedelta(hours=1)
CONNECT_TIMEOUT_S = 5.0


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class SqlCertificates:
    """A throwaway CA for one simulator run: the server certificate and the connectors' ephemeral certificates."""

    def __init__(self, instance_label: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._sign(_name("Google Cloud SQL Server CA"), self._key.public_key(), ca=True)
        self.server_key = ec.generate_private_key(ec.SECP256R1())
        self.server_cert = self._sign(_name(instance_label), self.server_key.public_key(), ca=False)

    def _sign(self, subject: x509.Name, public_key: CertificatePublicKeyTypes, ca: bool) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(_name("Google Cloud SQL Server CA"))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + (dt.timedelta(days=3650) if ca else CERT_LIFETIME * 24))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        return builder.sign(self._key, hashes.SHA256())

    @staticmethod
    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign_client_key(self, public_key_pem: str, common_name: str) -> x509.Certificate:
        """The ephemeral client certificate for a connector's public key (valid one hour)."""
        public_key = serialization.load_pem_public_key(public_key_pem.encode())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name("Google Cloud SQL Server CA"))
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CERT_LIFETIME)
        )
        return builder.sign(self._key, hashes.SHA256())

    def server_context(self) -> ssl.SSLContext:
        """Mutual TLS, as Cloud SQL's server proxy requires: clients must present a certificate of this CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_REQUIRED
        with tempfile.TemporaryDirectory() as directory:
            cert, key, ca = (Path(directory) / name for name in ("cert.pem", "key.pem", "ca.pem"))
            cert.write_text(self.pem(self.server_cert))
            key.write_bytes(
                self.server_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            ca.write_text(self.pem(self.ca_cert))
            context.load_cert_chain(cert, key)
            context.load_verify_locations(ca)
        return context


class LazyCertificates:
    """Creates the CA on first use (importing and generating costs ~0.3 s; most runs never need it)."""

    def __init__(self, instance_label: str) -> None:
        self._label = instance_label
        self._lock = threading.Lock()
        self._certificates: SqlCertificates | None = None

    def get(self) -> SqlCertificates:
        with self._lock:
            if self._certificates is None:
                self._certificates = SqlCertificates(self._label)
            return self._certificates


AUTO_ADDRESS_TRIES = 50


def bind_loopback(host: str, port: int, tries: int = AUTO_ADDRESS_TRIES) -> socket.socket:
    """A TCP socket bound to `host:port`; for host `auto`, to `port` on an address of its own in 127.0.0.0/8.

    The bind is the reservation: an address another process holds port `port` on fails to bind and the next
    random one is tried (never probe-then-bind). Raises RuntimeError when no address could be bound.
    """
    candidates: Iterable[str] = (
        (str(ipaddress.IPv4Address(0x7F000000 + random.randrange(0x10000, 0xFFFFFF))) for _ in range(tries))
        if host == "auto"
        else [host]
    )
    problems = []
    for address in candidates:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((address, port))
        except OSError as error:
            sock.close()
            problems.append(f"{address}:{port}: {error.strerror}")
            continue
        return sock
    raise RuntimeError(f"cannot listen for the Cloud SQL proxy ({'; '.join(problems[-3:])})")


class SqlServerProxy:
    """TLS on `host:port` (host `auto`: a loopback address of its own) -> plain TCP to `upstream` (host:port)."""

    def __init__(self, certificates: SqlCertificates, port: int, upstream: str, host: str = "auto") -> None:
        self._context = certificates.server_context()
        self._socket = bind_loopback(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        upstream_host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (upstream_host or "127.0.0.1", int(upstream_port))
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator-sql-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, sock=self._socket, ssl=self._context), self._loop
        )
        try:
            self._server = future.result(CONNECT_TIMEOUT_S)
        except OSError as error:
            self.stop()
            raise RuntimeError(f"cannot listen on {self.host}:{self.port} for the Cloud SQL proxy: {error}") from error

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(CONNECT_TIMEOUT_S)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CONNECT_TIMEOUT_S)
        self._loop.close()
        self._socket.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self._upstream), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.close()
