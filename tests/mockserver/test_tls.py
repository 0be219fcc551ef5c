"""TLS: a generated leaf (not a CA) for 127.0.0.1/localhost signed by its own CA, reused while valid; ``--tls``."""

from __future__ import annotations

import datetime
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import ValidationError

from mockserver.config import TlsSettings
from mockserver.tls import ensure_loopback_certificate, files_for


def test_generated_certificate_is_a_leaf_signed_by_its_ca(tmp_path: Path) -> None:
    files = ensure_loopback_certificate(tmp_path)
    assert files.ca is not None
    leaf, ca = x509.load_pem_x509_certificates(files.cert.read_bytes())
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert x509.load_pem_x509_certificate(files.ca.read_bytes()) == ca
    leaf.verify_directly_issued_by(ca)
    assert (files.key.stat().st_mode & 0o777) == 0o600
    context = ssl.create_default_context(cafile=str(files.ca))  # what a client trusting ca.pem does
    assert context.cert_store_stats()["x509_ca"] == 1


def test_reused_while_valid_renewed_near_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_loopback_certificate(tmp_path).cert.read_bytes()
    assert ensure_loopback_certificate(tmp_path).cert.read_bytes() == first
    monkeypatch.setattr("mockserver.tls.VALIDITY", datetime.timedelta(days=1))
    (tmp_path / "cert.pem").write_bytes(b"junk")
    renewed = ensure_loopback_certificate(tmp_path).cert.read_bytes()
    assert renewed != first
    assert ensure_loopback_certificate(tmp_path).cert.read_bytes() != renewed  # 1 day left: renewed again


def test_user_files_are_used_as_given(tmp_path: Path) -> None:
    files = files_for(TlsSettings(enabled=True, cert_file=tmp_path / "c.pem", key_file=tmp_path / "k.pem"))
    assert (files.cert, files.key, files.ca) == (tmp_path / "c.pem", tmp_path / "k.pem", None)
    with pytest.raises(ValidationError, match="go together"):
        TlsSettings(cert_file=tmp_path / "c.pem")


def test_serve_with_tls(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--no-media", "--tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on https://127.0.0.1:")
        ca = tmp_path / "streaming-avatar-testkit" / "tls" / "ca.pem"
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"{line.removeprefix('listening on ')}/openapi.json", context=context) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert "SSL_CERT_FILE=" in (proc.stderr.read() if proc.stderr else "")
