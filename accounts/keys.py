"""The keys that sign tokens: RSA 2048 (RS256), kept in the database (``SigningKey``) so every web
process signs and verifies with the same ones, rotated lazily.

The newest key signs. When it is older than ``SIGNING_KEY_DAYS`` (default 30), the next signature creates
a new one (beat's ``signing-keys`` entry, ``maintain``, does the same daily), and the old key gets ``retires_at`` = now + the longest token lifetime: it stays in the JWKS
(and keeps verifying) until every token it signed has expired, then is deleted. Entra rolls its keys the
same way and publishes old and new ones side by side
(https://learn.microsoft.com/entra/identity-platform/signing-key-rollover)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm

from portal.core.prepared import Prepared

from .models import SigningKey

ALGORITHM = "RS256"


def key_days() -> int:
    return int(getattr(settings, "SIGNING_KEY_DAYS", 30))


def longest_lifetime() -> int:
    """Seconds the longest-lived token we sign stays valid (a refresh token)."""
    return max(
        int(getattr(settings, "ACCESS_TOKEN_SECONDS", 3600)),
        int(getattr(settings, "REFRESH_TOKEN_SECONDS", 90 * 86400)),
    )


def thumbprint(public_key) -> str:
    """The JWK thumbprint (RFC 7638, SHA-256, base64url): the key's ``kid``."""
    jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@lru_cache(maxsize=32)
def _private(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def new_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningKey.objects.create(kid=thumbprint(private.public_key()), private_pem=pem)


def signing_key() -> tuple[str, object]:
    """The ``kid`` and private key to sign with now, rotating (and pruning retired keys) on the way."""
    now = timezone.now()
    newest = SigningKey.objects.filter(retires_at__isnull=True).first()
    if newest is None or newest.created_at <= now - timedelta(days=key_days()):
        newest = rotate(now)
    return newest.kid, _private(newest.private_pem)


def rotate(now=None) -> SigningKey:
    """A new signing key; the current one retires once the tokens it signed have expired."""
    now = now or timezone.now()
    with transaction.atomic():
        SigningKey.objects.filter(retires_at__lte=now).delete()
        SigningKey.objects.filter(retires_at__isnull=True).update(
            retires_at=now + timedelta(seconds=longest_lifetime())
        )
        return new_key()


def maintain() -> str:
    """Beat's daily pass (``signing-keys``, run in beat): rotate when due and delete retired keys, so that
    a portal that issues nothing for weeks still drops keys whose tokens have all expired."""
    kid, _ = signing_key()
    gone, _ = SigningKey.objects.filter(retires_at__lte=timezone.now()).delete()
    return f"signing with {kid}; {gone} retired key(s) deleted"


#: Every bearer request reads its key: compiled once (``portal.core.prepared``); the retirement is tested
#: here against this process's clock, as ``live()`` does.
_KEY = Prepared(lambda kid: SigningKey.objects.filter(kid=kid).values_list("private_pem", "retires_at"))


def public_key(kid: str):
    """The public key named ``kid``, if it is one of ours and not retired (read on every call: a key
    retired a moment ago is refused by the very next request)."""
    if not isinstance(kid, str) or not kid:
        return None
    for pem, retires_at in _KEY.rows(kid=kid):  # kid is unique: one row at most
        if retires_at is None or retires_at > timezone.now():
            return _private(pem).public_key()
    return None


def live():
    now = timezone.now()
    return SigningKey.objects.exclude(retires_at__lte=now)


def jwks(issuer: str | None = None) -> dict:
    """The JSON Web Key Set of every live key, newest first, in Entra's shape (``kty``, ``use``, ``kid``,
    ``n``, ``e``, ``issuer``)."""
    if not SigningKey.objects.filter(retires_at__isnull=True).exists():
        rotate()
    keys = []
    for row in live():
        jwk = json.loads(RSAAlgorithm.to_jwk(_private(row.private_pem).public_key()))
        entry = {"kty": "RSA", "use": "sig", "kid": row.kid, "alg": ALGORITHM, "n": jwk["n"], "e": jwk["e"]}
        if issuer:
            entry["issuer"] = issuer
        keys.append(entry)
    return {"keys": keys}
