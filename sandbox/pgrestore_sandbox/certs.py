"""A private CA, serving certificates, the service-account key and the admin token."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_VALID = dt.timedelta(days=3650)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.write_bytes(data)
    path.chmod(mode)


def ensure_pki(pki: Path) -> None:
    """Create once; later `up`s reuse them so kubeconfigs handed out stay valid."""
    if (pki / "token").exists():
        return
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("pgrestore-sandbox-ca"))
        .issuer_name(_name("pgrestore-sandbox-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki / "ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
    for name, cn in (("apiserver", "kube-apiserver"), ("node", "pgrestore-node-agent")):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALID)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(pki / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(pki / f"{name}.key", _pem_key(key))
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki / "sa.key", _pem_key(sa))
    _write(
        pki / "sa.pub",
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    token = secrets.token_hex(24)
    _write(pki / "tokens.csv", f"{token},admin,admin,system:masters\n".encode())
    _write(pki / "token", token.encode())


def kubeconfig_text(pki: Path, server: str) -> str:
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    token = (pki / "token").read_text().strip()
    return f"""apiVersion: v1
kind: Config
clusters:
- name: pgrestore-sandbox
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: sandbox-admin
  user:
    token: {token}
contexts:
- name: pgrestore-sandbox
  context:
    cluster: pgrestore-sandbox
    user: sandbox-admin
current-context: pgrestore-sandbox
"""
