"""Persisted queries (Apollo's automatic persisted queries, and trusted documents registered
ahead of time): documents stored in Redis by their SHA-256, so every API process shares them
and clients may send the hash alone.

A digest names its document for good (content addressing), so each process also keeps the
documents it has seen in memory: a known hash costs no Redis round trip and can never be stale.

Anyone may register a document, so the store is bounded three ways: a document is stored only
once it parsed and validated (the HTTP transport calls `remember` after execution), at most
`MAX_PERSISTED_QUERY_BYTES` long, and at most `PERSISTED_QUERY_MAX_ENTRIES` documents are kept
(the oldest registration goes first), each with a TTL so that Redis's `volatile-lru` policy may
evict them under memory pressure. Trusted documents (registered ahead of time by the operator)
have no TTL and are outside the bound.
"""

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.errors import BadUserInput, ServiceError
from service.settings import Settings

log = logging.getLogger(__name__)
KNOWN_IN_MEMORY = 1024

# Stores an automatically persisted document and keeps the store bounded, in one atomic step.
# KEYS[1]: the document's key; KEYS[2]: the index, a sorted set of the documents' keys scored
# by registration time (ms). ARGV: the document, its TTL (s), the most entries, now (ms).
# A trusted document (a key without expiry) is left as it is. Entries older than the TTL
# leave the index (their keys expired), then the oldest beyond the bound are deleted. The
# index expires with its newest entry, so Redis may evict it too (the bound is then rebuilt
# from later registrations). The documents' keys are not declared in KEYS: one Redis, not a
# Cluster, holds the store (README "Redis memory").
_REMEMBER = """
if redis.call('TTL', KEYS[1]) == -1 then return 0 end
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  for _, key in ipairs(oldest) do redis.call('DEL', key) end
end
redis.call('EXPIRE', KEYS[2], ttl)
return 1
"""


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
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        ttl_seconds: int,
        only_persisted: bool,
        max_document_bytes: int = 16 * 1024,
        max_entries: int = 5000,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.only_persisted = only_persisted
        self.max_document_bytes = max_document_bytes
        self.max_entries = max_entries
        self._store = redis.register_script(_REMEMBER)
        self._known: OrderedDict[str, str] = OrderedDict()
        # Documents registered ahead of time by this process: never evicted, so they stay
        # served even when Redis was unreachable as they were registered.
        self._trusted: dict[str, str] = {}

    @classmethod
    def from_settings(cls, redis: Redis, settings: Settings) -> "PersistedQueries":
        return cls(
            redis,
            f"{settings.redis_prefix}:pq",
            settings.persisted_query_ttl_seconds,
            settings.persisted_queries_only,
            settings.max_persisted_query_bytes,
            settings.persisted_query_max_entries,
        )

    def _key(self, digest: str) -> str:
        return f"{self.prefix}:{digest}"

    @property
    def _index(self) -> str:
        """The sorted set of automatically persisted documents' keys (see _REMEMBER)."""
        return f"{self.prefix}:index"

    def _remember(self, digest: str, document: str) -> None:
        self._known[digest] = document
        self._known.move_to_end(digest)
        if len(self._known) > KNOWN_IN_MEMORY:
            self._known.popitem(last=False)

    async def _stored(self, digest: str) -> str | None:
        document = self._trusted.get(digest) or self._known.get(digest)
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
        if len(query.encode()) > self.max_document_bytes:
            raise BadUserInput(
                f"a persisted query may be at most {self.max_document_bytes} bytes"
                " (MAX_PERSISTED_QUERY_BYTES); send a larger document without"
                " extensions.persistedQuery",
                field="extensions.persistedQuery",
            )
        return Resolved(query, register_as=digest)

    async def _require_registered(self, digest: str) -> None:
        if await self._stored(digest) is None:
            raise PersistedQueryNotAllowed()

    async def remember(self, digest: str, document: str) -> None:
        """Register a document a client sent with its hash, once it proved valid; best effort
        (the client sent the document, so this request runs either way)."""
        if digest in self._known or digest in self._trusted:
            return
        now_ms = int(time.time() * 1000)
        arguments: list[str | int] = [document, self.ttl_seconds, self.max_entries, now_ms]
        try:
            await self._store(keys=[self._key(digest), self._index], args=arguments)
        except (RedisError, OSError) as error:
            log.warning("persisted query %s not stored: %s", digest, error)
            return
        self._remember(digest, document)

    async def register(self, document: str) -> str:
        """Store a document ahead of time, with no expiry (trusted documents)."""
        [digest] = await self.register_all([document])
        return digest

    async def register_all(self, documents: Iterable[str]) -> list[str]:
        """Store documents ahead of time, with no expiry, in one Redis round trip; their
        digests. They leave the bounded index of automatically persisted documents, if a
        client registered one first. This process serves them from then on even when Redis
        fails (RedisError is raised after they were taken in memory)."""
        by_digest = {sha256_of(document): document for document in documents}
        self._trusted.update(by_digest)
        if by_digest:
            async with self.redis.pipeline(transaction=False) as pipe:
                for digest, document in by_digest.items():
                    pipe.set(self._key(digest), document)
                pipe.zrem(self._index, *(self._key(digest) for digest in by_digest))
                await pipe.execute()
        return list(by_digest)


# --- trusted-document manifests ----------------------------------------------------------------


class ManifestError(ValueError):
    """A manifest file that is not one of the formats below, or whose hash is not its document's."""


APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"


def read_manifest(path: Path) -> dict[str, str]:
    """{sha256 hex: document} from a manifest file in either format clients write:

    - graphql-codegen's `persistedDocuments` (the SPA's `persisted-documents.json`):
      `{"<hash>": "<document>"}`, the hash plain hex or prefixed "sha256:";
    - Apollo's persisted-query list: `{"format": "apollo-persisted-query-manifest",
      "version": 1, "operations": [{"id": "<hash>", "body": "<document>", ...}]}`.

    Every hash must be the SHA-256 of its document's exact text: that is what a client sends
    and what the API looks documents up by.
    """
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path} is not JSON: {error}") from None
    pairs: list[tuple[object, object]]
    if isinstance(content, dict) and content.get("format") == APOLLO_MANIFEST_FORMAT:
        operations = content.get("operations")
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ManifestError(f"{path}: 'operations' must be a list of objects")
        pairs = [(o.get("id"), o.get("body")) for o in operations]
    elif isinstance(content, dict):
        pairs = list(content.items())
    else:
        raise ManifestError(f"{path}: expected a JSON object of hash -> document")
    documents: dict[str, str] = {}
    for digest, document in pairs:
        if not isinstance(digest, str) or not isinstance(document, str):
            raise ManifestError(f"{path}: every entry needs a string hash and a string document")
        hex_digest = digest.removeprefix("sha256:").lower()
        if sha256_of(document) != hex_digest:
            raise ManifestError(f"{path}: {digest} is not the SHA-256 of its document")
        documents[hex_digest] = document
    return documents


async def register_manifest(persisted: PersistedQueries, path: Path) -> int:
    """Register every document of a manifest file (see read_manifest); how many there were.

    Raises ManifestError for a bad file (nothing is registered), OSError when it cannot be
    read, RedisError when Redis cannot store them (this process serves them anyway)."""
    documents = read_manifest(path)
    await persisted.register_all(documents.values())
    return len(documents)
