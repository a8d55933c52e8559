"""portal.core.tls: the local CA and the server certificate (made once, 0600 keys, renewed when due), and
the HTTPS that `manage.py up` serves with them (the same gunicorn command as the https_portal fixture)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import urllib.request

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from portal.core import tls
from portal.management.commands import up


def _cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(path):
    return set(tls._san_names(_cert(path)))


def test_first_use_makes_a_ca_and_a_server_certificate_it_signed(tmp_path):
    files = tls.ensure(directory=tmp_path)
    ca, server = _cert(files.ca), _cert(files.cert)
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == f"SIG portal local CA {socket.gethostname()}"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)
    server.verify_directly_issued_by(ca)
    assert _names(files.cert) == {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()}
    for key in (tmp_path / "ca-key.pem", files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_a_second_use_keeps_the_files(tmp_path):
    files = tls.ensure(directory=tmp_path)
    before = [p.read_bytes() for p in (files.ca, files.cert, files.key)]
    tls.ensure(["localhost", "127.0.0.1", "0.0.0.0"], directory=tmp_path)  # nothing new; 0.0.0.0 is no name
    assert [p.read_bytes() for p in (files.ca, files.cert, files.key)] == before


def test_a_host_the_certificate_misses_renews_it_keeping_the_earlier_names(tmp_path):
    files = tls.ensure(["portal.example.test"], directory=tmp_path)
    ca = files.ca.read_bytes()
    files = tls.ensure(["10.1.2.3", "[fd00::1]"], directory=tmp_path)
    assert {"portal.example.test", "10.1.2.3", "fd00::1", "localhost"} <= _names(files.cert)
    assert files.ca.read_bytes() == ca  # the CA stays: clients keep trusting it


def test_a_server_certificate_within_30_days_of_its_end_is_renewed(tmp_path):
    files = tls.ensure(directory=tmp_path)
    ca_pair = tls._load_pair(files.ca, tmp_path / "ca-key.pem")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=tls.SERVER_DAYS - 29)
    cert, key = tls._make_server(ca_pair, tls.default_hosts(), old)
    tls._write(files.cert, cert.public_bytes(tls.serialization.Encoding.PEM))
    tls._write(files.key, tls._key_pem(key), private=True)
    tls.ensure(directory=tmp_path)
    assert _cert(files.cert).not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)


def test_a_ca_near_its_end_is_replaced_and_the_server_certificate_with_it(tmp_path):
    files = tls.ensure(directory=tmp_path)
    ca, key = tls._make_ca(dt.datetime.now(dt.UTC) - dt.timedelta(days=tls.CA_DAYS - 10))
    tls._write(files.ca, ca.public_bytes(tls.serialization.Encoding.PEM))
    tls._write(tmp_path / "ca-key.pem", tls._key_pem(key), private=True)
    tls.ensure(directory=tmp_path)
    new_ca = _cert(files.ca)
    assert new_ca.serial_number != ca.serial_number
    _cert(files.cert).verify_directly_issued_by(new_ca)


def test_a_server_certificate_another_ca_signed_is_replaced(tmp_path):
    files = tls.ensure(directory=tmp_path)
    other = tls.ensure(directory=tmp_path / "other")
    files.cert.write_bytes(other.cert.read_bytes())
    files.key.write_bytes(other.key.read_bytes())
    tls.ensure(directory=tmp_path)
    _cert(files.cert).verify_directly_issued_by(_cert(files.ca))


def test_addresses_of_up():
    assert up.split_addr("8443") == ("127.0.0.1", 8443)
    assert up.split_addr("0.0.0.0:443") == ("0.0.0.0", 443)
    assert up.split_addr("[::1]:8443") == ("::1", 8443)
    assert up.join_addr("::1", 8443) == "[::1]:8443"
    for bad in ("localhost", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x"):
        with pytest.raises(up.CommandError, match="PORTAL_ADDR"):
            up.split_addr(bad)


def test_what_the_processes_get_over_https_plain_http_and_behind_a_proxy(settings, monkeypatch):
    monkeypatch.delenv("SECURE_HSTS_SECONDS", raising=False)
    monkeypatch.delenv("PORTAL_TLS", raising=False)
    settings.SECURE_PROXY_SSL_HEADER = None
    assert up.tls_wanted(http_flag=False) and not up.tls_wanted(http_flag=True)
    assert up.web_env(serve_tls=True) == {"SECURE_HSTS_SECONDS": "0"}  # secure cookies and redirect stay on
    assert up.web_env(serve_tls=False)["SESSION_COOKIE_SECURE"] == "false"
    monkeypatch.setenv("SECURE_HSTS_SECONDS", "600")
    assert up.web_env(serve_tls=True) == {}
    monkeypatch.setenv("PORTAL_TLS", "0")
    assert not up.tls_wanted(http_flag=False)
    monkeypatch.delenv("PORTAL_TLS")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_PROXY=1
    assert not up.tls_wanted(http_flag=False) and up.web_env(serve_tls=False) == {}


def test_the_https_portal_verifies_for_its_names_and_refuses_plain_http(https_portal):
    url, ca = https_portal
    port = int(url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=ca)
    for host in ("localhost", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as s:
                assert s.version() in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLCertVerificationError):  # a client without the CA does not trust it
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    with urllib.request.urlopen(f"{url}/login/", timeout=10, context=context) as r:
        assert r.status == 200


def test_port_443_answers_when_it_could_be_bound(https_portal):
    """MSAL's user-realm discovery goes to https://<host>:443 whatever the authority's port (msal/authority.py
    ``user_realm_discovery``); as root the fixture and `manage.py up` also listen there."""
    if not https_portal.userrealm_443:
        pytest.skip("port 443 could not be bound here (not root, or in use)")
    context = ssl.create_default_context(cafile=https_portal.ca_bundle)
    with urllib.request.urlopen("https://localhost/login/", timeout=10, context=context) as r:
        assert r.status == 200
