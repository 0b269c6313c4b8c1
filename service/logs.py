"""Structured (JSON) logs; every line written while serving a request carries its request id."""

import itertools
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Request ids: 16 hex digits, a random prefix per process and a counter. They only have to be
# distinct (they tie a response to its log lines, never grant anything); a uuid4 per request
# cost a getrandom system call.
_prefix = os.urandom(4).hex()
_numbers = itertools.count()


def new_request_id() -> str:
    return f"{_prefix}{next(_numbers) & 0xFFFFFFFF:08x}"


def _reseed() -> None:
    """A forked process draws its own prefix."""
    global _prefix, _numbers
    _prefix = os.urandom(4).hex()
    _numbers = itertools.count()


os.register_at_fork(after_in_child=_reseed)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(level: str, json_logs: bool) -> None:
    handler = logging.StreamHandler()
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
