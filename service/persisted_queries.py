"""Persisted queries (Apollo's automatic persisted queries, and trusted documents registered
ahead of time): documents stored in Redis by their SHA-256, so every API process shares them
and clients may send the hash alone.

A digest names its document for good (content addressing), so each process also keeps the
documents it has seen in memory: a known hash costs no Redis round trip and can never be stale.
"""

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.errors import BadUserInput, ServiceError

log = logging.getLogger(__name__)
KNOWN_IN_MEMORY = 1024


class PersistedQueryNotFound(ServiceError):
    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotAllowed(ServiceError):
    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__(
            "PersistedQueryNotFound: only registered documents are accepted (send the"
            " sha256Hash of a registered document)"
        )


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolved:
    """The document a request runs, and the digest to register once it proved valid."""

    document: str | None
    register_as: str | None = None


class PersistedQueries:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int, only_persisted: bool) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.only_persisted = only_persisted
        self._known: OrderedDict[str, str] = OrderedDict()

    def _key(self, digest: str) -> str:
        return f"{self.prefix}:{digest}"

    def _remember(self, digest: str, document: str) -> None:
        self._known[digest] = document
        self._known.move_to_end(digest)
        if len(self._known) > KNOWN_IN_MEMORY:
            self._known.popitem(last=False)

    async def _stored(self, digest: str) -> str | None:
        document = self._known.get(digest)
        if document is not None:
            return document
        stored = await self.redis.get(self._key(digest))
        if stored is None:
            return None
        document = stored.decode() if isinstance(stored, bytes) else str(stored)
        self._remember(digest, document)
        return document

    async def resolve(self, query: str | None, digest: str | None) -> Resolved:
        """The document of a request (`digest`: its `extensions.persistedQuery.sha256Hash`).

        Raises PersistedQueryNotFound for an unknown hash sent alone, BadUserInput when the
        hash does not match the document, PersistedQueryNotAllowed for an unregistered
        document in persisted-only mode; RedisError when the store cannot be asked.
        """
        if digest is None:
            if query is not None and self.only_persisted:
                await self._require_registered(sha256_of(query))
            return Resolved(query)
        digest = digest.lower()
        if query is None:
            document = await self._stored(digest)
            if document is None:
                raise PersistedQueryNotFound()
            return Resolved(document)
        if sha256_of(query) != digest:
            raise BadUserInput("provided sha256Hash does not match the query", field="extensions")
        if self.only_persisted:
            await self._require_registered(digest)
            return Resolved(query)
        return Resolved(query, register_as=digest)

    async def _require_registered(self, digest: str) -> None:
        if await self._stored(digest) is None:
            raise PersistedQueryNotAllowed()

    async def remember(self, digest: str, document: str) -> None:
        """Register a document a client sent with its hash, once it proved valid; best effort
        (the client sent the document, so this request runs either way)."""
        if digest in self._known:
            return
        try:
            await self.redis.set(self._key(digest), document, ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            log.warning("persisted query %s not stored: %s", digest, error)
            return
        self._remember(digest, document)

    async def register(self, document: str) -> str:
        """Store a document ahead of time, with no expiry (trusted documents)."""
        digest = sha256_of(document)
        await self.redis.set(self._key(digest), document)
        self._remember(digest, document)
        return digest
