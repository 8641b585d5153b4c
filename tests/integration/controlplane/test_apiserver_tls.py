"""TLS material, the token and the kubeconfig: created once, reused, read back."""

from __future__ import annotations

import ssl
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from modelplane.cli import apiclient
from modelplane.controlplane import kubeconfig, tls
from tests.support.apiserver import ApiServer


def test_certificates_are_reused_while_valid(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path)
    pem = first.ca_pem
    assert tls.ensure(tmp_path).ca_pem == pem
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    later = datetime.now(UTC) + tls.VALIDITY
    assert tls.ensure(tmp_path, now=later).ca_pem != pem  # renewed near expiry
    first.cert.write_text("garbage")
    assert x509.load_pem_x509_certificate(tls.ensure(tmp_path).cert.read_bytes())


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name) for name in sans.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    }


def test_a_certificate_lacking_a_name_is_issued_again_under_the_same_ca(tmp_path: Path) -> None:
    earlier = tls.ensure(tmp_path)  # an earlier run: loopback names only
    ca_pem, cert_pem = earlier.ca_pem, earlier.cert.read_bytes()
    names = [*tls.LOOPBACK, "Build-Host", "192.0.2.7", "fe80::1%eth0"]
    now = tls.ensure(tmp_path, names)
    assert now.ca_pem == ca_pem  # kubeconfigs written with the CA keep working
    assert now.cert.read_bytes() != cert_pem
    assert _names(now.cert) == {
        "localhost",
        "build-host",
        "127.0.0.1",
        "::1",
        "192.0.2.7",
        "fe80::1",
    }
    ca = x509.load_pem_x509_certificate(ca_pem)
    x509.load_pem_x509_certificate(now.cert.read_bytes()).verify_directly_issued_by(ca)
    reissued = now.cert.read_bytes()
    assert tls.ensure(tmp_path, names).cert.read_bytes() == reissued  # all there: reused
    assert tls.ensure(tmp_path).cert.read_bytes() == reissued  # fewer names: reused too


def test_a_home_without_the_ca_key_gets_a_new_ca_when_it_needs_a_new_certificate(
    tmp_path: Path,
) -> None:
    earlier = tls.ensure(tmp_path)
    ca_pem = earlier.ca_pem
    earlier.ca_key.unlink()  # as homes written before the CA's key was kept
    now = tls.ensure(tmp_path, [*tls.LOOPBACK, "192.0.2.7"])
    assert now.ca_pem != ca_pem and now.ca_key.exists()
    assert stat.S_IMODE(now.ca_key.stat().st_mode) == 0o600
    assert "192.0.2.7" in _names(now.cert)


def test_a_server_key_that_does_not_match_is_replaced(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path)
    other = tls.ensure(tmp_path / "other")
    first.key.write_bytes(other.key.read_bytes())
    again = tls.ensure(tmp_path)
    assert again.ca_pem == first.ca_pem
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(again.cert, again.key)  # raises if they do not match


def test_strict_python_clients_accept_the_chain(tmp_path: Path) -> None:
    """A TLS handshake in memory with VERIFY_X509_STRICT, as Python 3.13 clients verify."""
    certs = tls.ensure(tmp_path)
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certs.cert, certs.key)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = context.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    done: set[str] = set()
    for _ in range(10):
        for name, side in (("client", client), ("server", server)):
            try:
                side.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert done == {"client", "server"}
    assert client.getpeercert()["subject"] == ((("commonName", "modelplane-apiserver"),),)


def test_token_is_private_and_stable(tmp_path: Path) -> None:
    value = kubeconfig.token(tmp_path / "token")
    assert len(value) >= 32
    assert kubeconfig.token(tmp_path / "token") == value
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_kubeconfig_is_private_and_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    ca_pem = tls.ensure(tmp_path / "tls").ca_pem
    kubeconfig.write(path, "https://127.0.0.1:6443", ca_pem, "tok")
    config = apiclient.load_config(path)
    assert (config.server, config.token) == ("https://127.0.0.1:6443", "tok")
    assert config.ca_pem == ca_pem.decode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_server_verifies_with_the_kubeconfig_ca(api_server: ApiServer) -> None:
    config = apiclient.load_config(api_server.kubeconfig)
    assert config.server == api_server.url and config.token == api_server.token
    assert api_server.kubectl("version", "-o", "json").returncode == 0
