"""Every setting comes from an environment variable; the README's table mirrors this class."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    mongodb_url: str | None = Field(
        default=None, description="MongoDB URL; unset in embedded mode (mongoeco is started)."
    )
    mongodb_db: str = Field(default="books", description="Database name.")
    mongodb_timeout_ms: int = Field(
        default=3000,
        description="Server selection, connect and socket timeout of MongoDB commands: when"
        " MongoDB is unreachable a request fails (SERVICE_UNAVAILABLE) within this bound.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset in embedded mode (redis-server is started)."
    )
    redis_timeout_ms: int = Field(
        default=1000,
        description="Connect and socket timeout of Redis commands (mutations still succeed"
        " when Redis is down: their events wait in the outbox).",
    )
    redis_prefix: str = Field(
        default="books",
        description="Prefix of the service's own Redis keys (persisted queries, cache, limits).",
    )
    stream_key: str = Field(default="events", description="Redis stream carrying change events.")
    stats_channel: str = Field(
        default="book-stats", description="Redis pub/sub channel for 'book figures changed'."
    )
    jwt_secret: str | None = Field(
        default=None,
        description="HMAC secret for tokens; embedded mode generates one in DATA_DIR.",
    )
    jwt_ttl_seconds: int = Field(default=7 * 24 * 3600, description="Token lifetime.")
    max_text_length: int = Field(default=20_000, description="Longest review or comment text.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host:port, comma-separated) whose pages may call the API"
        " (CORS) and open its WebSocket; empty: same origin only.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, description="Port the API listens on.")
    api_processes: int = Field(
        default=1, ge=1, description="uvicorn processes `books serve` runs (1: no supervisor)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated IPs or CIDRs) of the reverse proxies"
        " whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: nobody's, the"
        " connection's peer is the client (rate limits, access log).",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections and running requests per API process beyond which new"
        " requests are answered 503 (uvicorn's limit_concurrency).",
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, description="How long an idle keep-alive connection is kept open."
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Largest request line and headers accepted; larger ones are answered 431.",
    )
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest a client may take to send a whole request (head and body); a"
        " slower one is answered 408 and disconnected.",
    )
    password_hash_threads: int = Field(
        default=2,
        ge=1,
        description="Threads that hash and verify passwords (argon2), off the event loop; more"
        " concurrent sign-ups and log-ins wait for one.",
    )
    data_dir: Path = Field(default=Path("data"), description="Embedded mode's data folder.")
    demo_scale: float = Field(
        default=0.02,
        description="Share of the seed page's rating and shelf populations that embedded mode"
        " loads.",
    )
    outbox_grace_seconds: float = Field(
        default=30.0,
        description="Age after which an unpublished outbox entry is re-published (keep it above"
        " MONGODB_TIMEOUT_MS, so a slow write is not overtaken by its own re-published event).",
    )
    consumer_group: str = Field(default="aggregators", description="Consumer group of the workers.")
    worker_batch_size: int = Field(default=500, description="Most events a worker applies at once.")
    worker_block_ms: int = Field(
        default=1000, description="How long a worker waits for new events."
    )
    claim_idle_ms: int = Field(
        default=30_000,
        description="Pending events idle this long (their consumer died) are claimed by another.",
    )
    max_attempts: int = Field(
        default=5, description="Deliveries of a failing event before it goes to the dead letters."
    )
    dead_letter_stream: str = Field(
        default="events:dead", description="Stream holding events that kept failing."
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0,
        description="How often a worker publishes its counters; one silent for three of these"
        " intervals drops out of `books worker status` and /metrics.",
    )
    ready_max_event_age_seconds: float = Field(
        default=30.0,
        gt=0,
        description="/readyz says `degraded` (still 200) when the oldest event the workers have"
        " not applied is older than this, or when events wait and no worker is alive.",
    )
    trim_interval_seconds: float = Field(
        default=10.0, description="How often a worker trims acknowledged events off the stream."
    )
    sweep_interval_seconds: float = Field(
        default=5.0, description="How often a worker re-publishes stale outbox entries."
    )
    production: bool = Field(
        default=False,
        description="Production mode: no introspection, no field suggestions, no GraphiQL.",
    )
    persisted_queries_only: bool = Field(
        default=False,
        description="Accept only documents already in the persisted-query store (by hash).",
    )
    persisted_query_ttl_seconds: int = Field(
        default=30 * 24 * 3600, description="How long a registered persisted query is kept."
    )
    max_persisted_query_bytes: int = Field(
        default=16 * 1024,
        description="Largest document a client may register as a persisted query (a larger one"
        " is refused with BAD_USER_INPUT; sent without `persistedQuery` it runs).",
    )
    persisted_query_max_entries: int = Field(
        default=5000,
        description="Most automatically persisted documents kept in Redis (the oldest are"
        " dropped first; trusted documents do not count).",
    )
    max_query_depth: int = Field(default=10, description="Deepest selection nesting accepted.")
    max_aliases: int = Field(default=15, description="Most aliases in one document.")
    max_tokens: int = Field(default=2000, description="Most tokens in one document.")
    max_query_cost: int = Field(
        default=5000,
        description="Highest estimated cost (a connection multiplies what it selects by `first`).",
    )
    execution: Literal["compiled", "planned", "stock"] = Field(
        default="compiled",
        description="How operations execute: `compiled` (each selection of a document that is"
        " sent again compiled to a function), `planned` (graphql-core's executor with a fast"
        " path for fields that are attribute reads) or `stock` (graphql-core's own execution of"
        " every field); all give the same data and errors (tests/test_execution_equivalence.py).",
    )
    max_batch_operations: int = Field(
        default=10,
        description="Most operations in one batched HTTP request (Apollo's BatchHttpLink sends"
        " up to 10).",
    )
    max_body_bytes: int = Field(default=262_144, description="Largest request body accepted.")
    rate_limit_enabled: bool = Field(default=True, description="Apply the rate limits below.")
    rate_limit_auth: str = Field(
        default="10/minute", description="signUp and logIn per client address."
    )
    rate_limit_write: str = Field(
        default="120/minute", description="Other mutations per viewer (or client address)."
    )
    rate_limit_read: str = Field(
        default="1200/minute", description="Queries per viewer (or client address)."
    )
    rate_limit_fail_open: bool = Field(
        default=True,
        description="When Redis cannot be reached: serve without limits (true) or refuse (false).",
    )
    response_cache: bool = Field(
        default=True,
        description="Cache anonymous book-page responses in Redis until the worker's next write.",
    )
    response_cache_ttl_seconds: int = Field(
        default=300, description="Longest a cached response is kept."
    )
    json_logs: bool = Field(default=True, description="Write logs as JSON lines.")
    fault_exit_before_publish: bool = Field(
        default=False,
        description="Fault-test hook: exit the process after a source write, before its event"
        " is published (proves the outbox). Never set it in production.",
    )
    log_level: str = Field(default="INFO", description="Logging level.")

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: object) -> object:
        """A comma-separated environment value, blanks dropped."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [str(part).strip() for part in value if str(part).strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_without_trailing_slash(cls, value: list[str]) -> list[str]:
        """Origins compare without a trailing slash."""
        return [origin.rstrip("/") for origin in value]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
