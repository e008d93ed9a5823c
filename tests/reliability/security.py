"""Test PKI and a Mosquitto with a password file and TLS listeners (tests/reliability/test_security.py).

Everything is generated per test with the `cryptography` package: a CA, a server certificate for
127.0.0.1/localhost signed by it, a client certificate signed by it, and a second "rogue" CA that signs
nothing the broker uses (a client trusting only it must refuse the broker).
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion

from tests.mosquitto import Mosquitto, free_port

type Key = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: Key, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _certificate(
    subject: str,
    key: Key,
    issuer: tuple[x509.Name, Key] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
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
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """PEM files of a throw-away PKI."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path  # a CA that signed nothing the broker presents


def make_pki(directory: Path) -> Pki:
    """Generate CA, server (127.0.0.1 + localhost), client and a rogue CA into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("PV Monitor test CA", ca_key, None, ca=True)
    issuer = (ca_cert.subject, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        ca=_write_cert(ca_cert, directory / "ca.pem"),
        server_cert=_write_cert(
            _certificate("127.0.0.1", server_key, issuer, server=True), directory / "server.pem"
        ),
        server_key=_write_key(server_key, directory / "server.key"),
        client_cert=_write_cert(_certificate("pv-collector", client_key, issuer), directory / "client.pem"),
        client_key=_write_key(client_key, directory / "client.key"),
        rogue_ca=_write_cert(_certificate("Rogue CA", rogue_key, None, ca=True), directory / "rogue-ca.pem"),
    )


OBSERVER = ("observer", "observer-pw")  # the tests' own subscriber: its login never changes


def write_password_file(path: Path, username: str, password: str) -> Path:
    """A Mosquitto password file made by `mosquitto_passwd -b -c` (hashed, as in production), with
    `username` and the tests' `OBSERVER`."""
    temporary = path.with_suffix(".new")
    temporary.unlink(missing_ok=True)
    for index, (user, secret) in enumerate([(username, password), OBSERVER]):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *create, str(temporary), user, secret],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


@dataclass
class SecureBroker:
    """A `Mosquitto` with anonymous access off, a password file, and two TLS listeners on 127.0.0.1:

    `port` (plain MQTT), `tls_port` (server certificate only) and `mtls_port` (client certificate
    required). Every listener needs the username/password.
    """

    broker: Mosquitto
    pki: Pki
    password_file: Path
    tls_port: int
    mtls_port: int

    @classmethod
    def create(cls, directory: Path, username: str, password: str) -> SecureBroker:
        pki = make_pki(directory / "pki")
        directory.mkdir(parents=True, exist_ok=True)
        password_file = write_password_file(directory / "passwords", username, password)
        tls_port, mtls_port = free_port(), free_port()
        extra = "\n".join(
            [
                "allow_anonymous false",
                f"password_file {password_file}",
                "log_type information",  # "New connection from ...": one line per connection attempt
                f"listener {tls_port} 127.0.0.1",
                f"cafile {pki.ca}",
                f"certfile {pki.server_cert}",
                f"keyfile {pki.server_key}",
                "require_certificate false",
                f"listener {mtls_port} 127.0.0.1",
                f"cafile {pki.ca}",
                f"certfile {pki.server_cert}",
                f"keyfile {pki.server_key}",
                "require_certificate true",
                "",
            ]
        )
        broker = Mosquitto(directory / "mosquitto", extra_config=extra)
        return cls(broker, pki, password_file, tls_port, mtls_port)

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.broker.stop()

    def set_password(self, username: str, password: str) -> None:
        """Replace the password file and have the running broker reload it (SIGHUP)."""
        write_password_file(self.password_file, username, password)
        assert self.broker.process is not None
        self.broker.process.send_signal(1)  # SIGHUP: reload the configuration and the password file

    def connection_attempts(self, port: int) -> int:
        """TCP connections the broker accepted on `port` so far (from its log, never truncated).

        Mosquitto 2.0 logs "New connection from HOST:PORT on port P." for most, but a TLS handshake that
        fails at once, when the client's hello was there before the broker accepted (a loaded machine),
        only as "Client connection from HOST failed: ..." without the listener: on a TLS port those lines
        count too (a test uses one TLS listener at a time).
        """
        path = self.broker.directory / "mosquitto.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        tls = port in (self.tls_port, self.mtls_port)
        return sum(
            1
            for line in text.splitlines()
            if ("New connection from" in line and f"on port {port}." in line)
            or (tls and "Client connection from" in line and " failed: " in line)
        )


@dataclass
class Subscriber:
    """A paho client with credentials (and TLS) that records every message under `topic` (thread-safe)."""

    port: int
    topic: str = "#"
    username: str = OBSERVER[0]
    password: str = OBSERVER[1]
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        self.messages: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.username_pw_set(self.username, self.password)
        if self.ca_file is not None:
            client.tls_set(ca_certs=str(self.ca_file))
        client.on_connect = lambda c, _u, _f, reason, _p: (
            None if reason.is_failure else (c.subscribe(self.topic, qos=1), self._connected.set())
        )
        client.on_message = self._on_message
        self._client = client

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.setdefault(message.topic, []).append(bytes(message.payload))

    def start(self) -> None:
        self._client.connect("127.0.0.1", self.port)
        self._client.loop_start()
        if not self._connected.wait(5):
            raise RuntimeError("subscriber could not connect")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return list(self.messages.get(topic, []))

    def everything(self) -> bytes:
        with self._lock:
            return b"\n".join(b for payloads in self.messages.values() for b in payloads)
