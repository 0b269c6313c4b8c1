"""Passwords (argon2) and bearer tokens (JWT, HS256)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId
from bson.errors import InvalidId

_hasher = PasswordHasher()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordHashing:
    """argon2 off the event loop, in a pool of `threads` (argon2-cffi releases the GIL): a
    hash costs tens of milliseconds of CPU by design, and on the loop a burst of log-ins would
    hold every other request for as many hashes. Hashes beyond `threads` wait their turn, so
    the CPU they take is bounded too."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_password, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, verify_password, password_hash, password
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def issue_token(user_id: ObjectId, secret: str, ttl_seconds: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(seconds=ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> ObjectId | None:
    """The user id a valid token names; None for expired, tampered or foreign tokens."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return ObjectId(claims["sub"])
    except (jwt.PyJWTError, InvalidId, TypeError):
        return None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
