"""The portal's own TLS: a local certificate authority and a server certificate it signs, made with the
``cryptography`` library (no ``openssl`` shell-out) under ``<PORTAL_VAR_DIR>/tls/``:

- ``ca.pem`` / ``ca-key.pem`` (0600): the CA, ``SIG portal local CA <hostname>``, EC P-256, ten years.
  ``ca.pem`` is the one file a client is told to trust (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``).
- ``server.pem`` / ``server-key.pem`` (0600): the server certificate (EC P-256, one year) for localhost,
  127.0.0.1, ::1, this machine's hostname and every host a caller asked for.

:func:`ensure` makes what is missing and renews what is due: the CA within 30 days of its end (a new CA
means a new server certificate, and clients must trust the new ``ca.pem``), the server certificate
within 30 days of its end, when the CA did not sign it, or when its names miss an asked host. A file
lock keeps two processes starting at once (``manage.py up`` and a test) from writing over each other.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_WITHIN = dt.timedelta(days=30)
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
# Addresses that mean "every interface": no certificate names them; the hostname and loopback cover them.
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "*"}


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the bundle clients trust
    cert: Path
    key: Path


def tls_dir() -> Path:
    return Path(settings.VAR_DIR) / "tls"


def default_hosts() -> list[str]:
    return [*DEFAULT_HOSTS, socket.gethostname().lower()]


def ensure(hosts: Iterable[str] = (), directory: Path | None = None) -> TlsFiles:
    """The CA and a valid server certificate for ``hosts`` (plus the defaults), made or renewed as needed."""
    directory = Path(directory or tls_dir())
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca_key_path = directory / "ca-key.pem"
    wanted = _names([*default_hosts(), *hosts])
    now = dt.datetime.now(dt.UTC)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ca = _load_pair(files.ca, ca_key_path)
        renew_server = False
        if ca is None or ca[0].not_valid_after_utc - now < RENEW_WITHIN:
            ca = _make_ca(now)
            _write(ca_key_path, _key_pem(ca[1]), private=True)
            _write(files.ca, ca[0].public_bytes(serialization.Encoding.PEM))
            renew_server = True
        server = _load_pair(files.cert, files.key)
        if renew_server or server is None or _server_due(server[0], ca[0], wanted, now):
            if server is not None and not renew_server:
                wanted = _names([*wanted, *_san_names(server[0])])  # keep the names asked for before
            cert, key = _make_server(ca, wanted, now)
            _write(files.key, _key_pem(key), private=True)
            _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def _names(hosts: Iterable[str]) -> list[str]:
    out: list[str] = []
    for host in hosts:
        host = host.strip().strip("[]").lower()
        if host not in WILDCARD_HOSTS and host not in out:
            out.append(host)
    return out


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _san_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.IPAddress)] + san.get_values_for_type(x509.DNSName)


def _server_due(cert: x509.Certificate, ca: x509.Certificate, wanted: list[str], now: dt.datetime) -> bool:
    if cert.not_valid_after_utc - now < RENEW_WITHIN or cert.issuer != ca.subject:
        return True
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return True
    have = set(_names(_san_names(cert)))
    return any(name not in have for name in wanted)


def _load_pair(cert_path: Path, key_path: Path):
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return None
    return cert, key


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    """Atomically: a reader never sees half a file; a private key is 0600 from its first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _builder(subject: x509.Name, issuer: x509.Name, key, not_after: dt.datetime, now: dt.datetime):
    """A certificate for ``key``'s public key, valid from five minutes ago (clock skew) to ``not_after``."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
    )


def _key_usage(ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; a server only signs (ECDHE handshakes)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(now: dt.datetime):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"SIG portal local CA {socket.gethostname()}"[:64])]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(name, name, key, now + dt.timedelta(days=CA_DAYS), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server(ca, hosts: list[str], now: dt.datetime):
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])])
    not_after = min(now + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc)
    cert = (
        _builder(subject, ca_cert.subject, key, not_after, now)
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key
