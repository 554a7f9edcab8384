"""The keys a test run makes for push, as the providers' consoles would hand them out: a VAPID
key pair (`web-push generate-vapid-keys`), an FCM service account's JSON key file, an APNs .p8
key, and a self-signed TLS certificate for the fake APNs server."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (0x04 || x || y), as Web Push writes P-256 public keys."""
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True)
class VapidKeys:
    private: str  # base64url of the raw 32-byte scalar: VAPID_PRIVATE_KEY
    public: str  # base64url of the uncompressed point: the applicationServerKey


def vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(b64url(scalar), b64url(public_point(key.public_key())))


def write_service_account(path: Path, *, project_id: str, token_uri: str) -> rsa.RSAPublicKey:
    """An FCM service account's JSON key file; its public key (the token endpoint's check)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project_id,
        "private_key_id": "test-key-1", "private_key": pem,
        "client_email": f"push@{project_id}.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": token_uri,
    }))
    return key.public_key()


def service_account_email(path: Path) -> str:
    return str(json.loads(path.read_text())["client_email"])


def write_apns_key(path: Path) -> ec.EllipticCurvePublicKey:
    """An APNs auth key (.p8: PKCS#8 PEM, P-256); its public key (the fake's check)."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key.public_key()


def write_tls_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost (the client trusts it by file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake push provider")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
