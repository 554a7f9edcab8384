"""The VAPID public key (RFC 8292) that web clients subscribe with, derived from the private key
the operator sets (VAPID_PRIVATE_KEY): the browser's `applicationServerKey`, so that only the
holder of the private key can send to the subscription it makes.

The key is read by py_vapid's `Vapid.from_string`, as pywebpush reads it to sign each push, so
the public key given out is always the one the pushes are signed with: base64url of the raw
32-byte scalar (what `web-push generate-vapid-keys` prints), or of a DER private key.
"""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException


@functools.cache
def vapid_public_key(private_key: str) -> str:
    """base64url (unpadded) of the uncompressed P-256 point (0x04 || x || y), as
    `PushManager.subscribe` takes it; ValueError when `private_key` is not a P-256 key."""
    try:
        public = Vapid.from_string(private_key).public_key
    except (ValueError, TypeError, binascii.Error, VapidException) as error:
        # The reason, never the value: the key is a secret, and this goes to the start's log.
        raise ValueError(f"VAPID_PRIVATE_KEY is not a private key: {str(error)[:160]}") \
            from None
    if not (isinstance(public, ec.EllipticCurvePublicKey)
            and isinstance(public.curve, ec.SECP256R1)):
        raise ValueError("VAPID_PRIVATE_KEY is not a P-256 (prime256v1) key")
    point = public.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()
