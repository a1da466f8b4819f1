"""API credentials: random keys shown once, stored as a lookup prefix plus a SHA-256 digest.

A fast hash is right here, unlike for passwords: the keys carry 256 bits of
randomness, so there is nothing to brute-force or look up in a dictionary,
and a slow hash (PBKDF2, argon2) would cost every API request tens of
milliseconds for no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewSecret:
    key: str  # shown to the person once, never stored
    prefix: str  # stored, indexed: finds the row without scanning
    digest: str  # stored: sha256 of the whole key


def new_secret(kind: str) -> NewSecret:
    """kind is a short label ("ak" agent key, "ut" user token) that makes leaked keys recognisable."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    key = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(key=key, prefix=prefix, digest=digest_of(key))


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str, kind: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1]


def matches(key: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(key), digest)
