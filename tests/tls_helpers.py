"""A throw-away certificate authority and a server certificate it signed for 127.0.0.1
and localhost (and any other host names asked for), made on the spot, for TLS servers on
loopback: the fake HTTPS origins, the browser test's page server and Caddy, and
bench/bench_strm_proxy_https.py's nginx. Nothing is committed; all is valid for a day."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what a client trusts (SSL_CERT_FILE, say)
    cert: Path  # the server's certificate, then the CA's (a chain)
    key: Path  # the server's key
    spki_hashes: tuple[str, ...]  # base64 SHA-256 of each certificate's public key


def make_certificates(directory: Path, *hosts: str) -> Certificates:
    """A fresh CA and a certificate it signed for 127.0.0.1, localhost and `hosts`,
    written to `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AniBridge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(names + [x509.DNSName(h) for h in hosts]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    certs = Certificates(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        spki_hashes=(_spki_hash(server), _spki_hash(ca)),
    )
    certs.ca.write_bytes(ca.public_bytes(pem))
    certs.cert.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    certs.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for path in (certs.ca, certs.cert, certs.key):
        path.chmod(0o644)  # nginx workers run as nobody when we are root
    return certs


def _spki_hash(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def server_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server-side context with a fresh certificate, and the CA file that trusts it."""
    certs = make_certificates(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    return context, certs.ca
