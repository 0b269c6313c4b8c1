"""Automatic persisted queries (Apollo's protocol): documents stored in Redis by their
SHA-256, so every API process shares them and clients may send the hash alone."""

import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.errors import BadUserInput, ServiceError

log = logging.getLogger(__name__)


class PersistedQueryNotFound(ServiceError):
    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotAllowed(ServiceError):
    code = "BAD_USER_INPUT"

    def __init__(self) -> None:
        super().__init__("only persisted queries are accepted: send a registered sha256Hash")


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedQueries:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int, only_persisted: bool) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.only_persisted = only_persisted

    def _key(self, digest: str) -> str:
        return f"{self.prefix}:{digest}"

    async def resolve(self, query: str | None, digest: str) -> str:
        """The document for a request carrying `extensions.persistedQuery.sha256Hash`."""
        digest = digest.lower()
        if query is None:
            stored = await self.redis.get(self._key(digest))
            if stored is None:
                raise PersistedQueryNotFound()
            return stored.decode() if isinstance(stored, bytes) else str(stored)
        if sha256_of(query) != digest:
            raise BadUserInput("provided sha256Hash does not match the query", field="extensions")
        if self.only_persisted:
            if not await self.redis.exists(self._key(digest)):
                raise PersistedQueryNotAllowed()
            return query
        try:
            await self.redis.set(self._key(digest), query, ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            # Storing is best effort: the client sent the document, so the request can run.
            log.warning("persisted query %s not stored: %s", digest, error)
        return query

    async def check_plain(self, query: str) -> None:
        """A request with a document and no hash: refused when only persisted ones are allowed."""
        if self.only_persisted and not await self.redis.exists(self._key(sha256_of(query))):
            raise PersistedQueryNotAllowed()

    async def register(self, query: str) -> str:
        """Store a document ahead of time (for persisted-only deployments)."""
        digest = sha256_of(query)
        await self.redis.set(self._key(digest), query)
        return digest
