"""TLS for the mock: a generated loopback certificate (leaf signed by its own CA) or the user's own files.

The official browser SDK builds ``wss://<hostname>/v1/ws/...`` from its base URL and drops the port, so a
mock that browser clients reach needs TLS. Clients that verify certificates need a CA they trust: the
``livekit`` Python SDK trusts only ``SSL_CERT_FILE`` and rejects a certificate that is its own CA, so the
generated leaf is a non-CA certificate (SAN ``IP:127.0.0.1``, ``DNS:localhost``) signed by a separate CA,
whose file is written next to it for ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mockserver.config import TlsSettings
from mockserver.media.clips import default_cache_dir

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALIDITY = datetime.timedelta(days=365)
#: A certificate this close to expiry is generated anew.
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the server's certificate and key, and the CA that signed it (None for user-provided files)."""

    cert: Path
    key: Path
    ca: Path | None = None


def files_for(settings: TlsSettings) -> TlsFiles:
    """The user's certificate and key if configured, else the generated one (in ``settings.dir`` or the cache)."""
    if settings.cert_file is not None and settings.key_file is not None:
        return TlsFiles(settings.cert_file, settings.key_file)
    return ensure_loopback_certificate(settings.dir or default_cache_dir() / "tls")


def ensure_loopback_certificate(directory: Path) -> TlsFiles:
    """The generated certificate in ``directory``, made (or renewed) if missing or about to expire."""
    files = TlsFiles(directory / CERT_FILE, directory / KEY_FILE, directory / CA_FILE)
    if not _still_valid(files):
        _generate(files)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context serving ``files`` (refuses anything older than TLS 1.2)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


def _still_valid(files: TlsFiles) -> bool:
    if not all(path is not None and path.is_file() for path in (files.cert, files.key, files.ca)):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    except ValueError:
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def _generate(files: TlsFiles) -> None:
    assert files.ca is not None
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Streaming Avatar Testkit local CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    leaf = (
        _builder(leaf_name, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_bytes = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    files.key.touch(mode=0o600)
    files.key.write_bytes(key_bytes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
