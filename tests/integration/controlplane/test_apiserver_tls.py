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
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    later = datetime.now(UTC) + tls.VALIDITY
    assert tls.ensure(tmp_path, now=later).ca_pem != pem  # renewed near expiry
    first.cert.write_text("garbage")
    assert x509.load_pem_x509_certificate(tls.ensure(tmp_path).cert.read_bytes())


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
    kubeconfig.write(path, "https://127.0.0.1:6443", b"PEM", "tok")
    config = apiclient.load_config(path)
    assert (config.server, config.ca_pem, config.token) == ("https://127.0.0.1:6443", "PEM", "tok")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_server_verifies_with_the_kubeconfig_ca(api_server: ApiServer) -> None:
    config = apiclient.load_config(api_server.kubeconfig)
    assert config.server == api_server.url and config.token == api_server.token
    assert api_server.kubectl("version", "-o", "json").returncode == 0
