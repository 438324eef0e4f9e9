"""Password hashing with Argon2id (argon2-cffi, RFC 9106's recommended memory-hard KDF).

Parameters are argon2-cffi's defaults (RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4, 16-byte salt): about
0.15 s and 64 MiB per guess on this hardware, which is what makes a stolen table expensive to crack. The encoded
hash carries its own parameters, so raising them later only needs `needs_rehash` on the next sign-in.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _hasher.check_needs_rehash(encoded)


@lru_cache(maxsize=1)
def decoy_hash() -> str:
    """A real hash of a random secret: checked when the user does not exist, so that failure costs the same."""
    import secrets

    return _hasher.hash(secrets.token_urlsafe(16))
