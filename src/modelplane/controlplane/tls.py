"""The API server's TLS: a self-signed CA and a server certificate for the names it is reached by.

kubectl sends a bearer token only over HTTPS, so `modelplane up` serves TLS with a CA of its own
that the kubeconfig carries. The files live under a directory (the modelplane home) and are
reused while they are valid. A server certificate that lacks a name the API is now reached by (a
new interface address, `--host` changed) is issued again under the same CA, so a kubeconfig
written earlier keeps working.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=3650)
RENEW_BEFORE = timedelta(days=30)
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelplane-ca")])


@dataclass(frozen=True)
class Certificates:
    ca_cert: Path
    cert: Path
    key: Path
    ca_key: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


def ensure(
    directory: Path, names: Iterable[str] = LOOPBACK, *, now: datetime | None = None
) -> Certificates:
    """The CA and a server certificate for `names` (host names and IP addresses) under
    `directory`; created when absent, expiring, or, for the server's, lacking one of `names`."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certificates(*(directory / f for f in ("ca.crt", "server.crt", "server.key", "ca.key")))
    moment = now or datetime.now(UTC)
    wanted = subject_names(names)
    ca = _load_ca(certs, moment)
    if ca is not None and _server_valid(certs, ca[0], wanted, moment):
        return certs
    if ca is None:
        ca = _new_ca(certs, moment)
    _new_server_cert(certs, *ca, wanted, moment)
    return certs


def subject_names(names: Iterable[str]) -> set[x509.GeneralName]:
    """DNS names and IP addresses as a certificate names them; a name that is neither (not
    ASCII) is left out, as no client could ask for it."""
    result: set[x509.GeneralName] = set()
    for name in names:
        try:
            result.add(x509.IPAddress(ipaddress.ip_address(name.split("%", 1)[0])))
        except ValueError:
            if name and name.isascii():
                result.add(x509.DNSName(name.lower()))
    return result


def _new_ca(
    certs: Certificates, moment: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _builder(_CA_NAME, _CA_NAME, ca_key.public_key(), moment)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(certs.ca_key, _private_pem(ca_key), private=True)
    _write(certs.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
    return ca, ca_key


def _new_server_cert(
    certs: Certificates,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: set[x509.GeneralName],
    moment: datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelplane-apiserver")])
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(name, ca.subject, key.public_key(), moment)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_sorted(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(certs.key, _private_pem(key), private=True)
    _write(certs.cert, cert.public_bytes(serialization.Encoding.PEM))


def _sorted(names: set[x509.GeneralName]) -> list[x509.GeneralName]:
    # DNS names first, then addresses, each in order: the same names give the same certificate.
    return sorted(names, key=lambda n: (isinstance(n, x509.IPAddress), str(n.value)))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _load_ca(
    certs: Certificates, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA and its key while the CA is valid; None where either is missing or expiring (a
    home from before the CA's key was kept has none: its CA is replaced once)."""
    try:
        ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != ca.public_key():
        return None
    if ca.not_valid_after_utc - RENEW_BEFORE <= now:
        return None
    return ca, key


def _server_valid(
    certs: Certificates, ca: x509.Certificate, names: set[x509.GeneralName], now: datetime
) -> bool:
    """The server certificate is CA-issued, matches its key, is not expiring, and names `names`."""
    try:
        cert = x509.load_pem_x509_certificate(certs.cert.read_bytes())
        key = serialization.load_pem_private_key(certs.key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if key.public_key() != cert.public_key():
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > now and names <= present


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
