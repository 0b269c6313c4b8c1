"""MongoDB and Redis servers of a test's own, on fixed ports, that the test can stop (or kill)
and restart there with the data they had: a SQLite file; an append-only file. The session's
servers (conftest's `servers`) are shared by every test and never stopped."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from devtools.embedded import (
    HOST,
    REDIS_MEMORY,
    REDIS_PERSISTENCE,
    START_TIMEOUT,
    ManagedProcess,
    _read_ready_url,
    free_port,
    python_env,
    redis_server_binary,
)


class OwnRedis:
    """A redis-server of the test's own on a fixed port, stoppable and restartable there."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, *, persistent: bool = True) -> None:
        """Start on our port: with an AOF in data_dir (data survives restarts, as in `make dev`
        and docker-compose.yml), or without."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = list(REDIS_PERSISTENCE) if persistent else ["--appendonly", "no"]
        args = [redis_server_binary(), "--port", str(self.port), "--bind", HOST]
        args += ["--save", "", "--dir", str(self.data_dir), "--daemonize", "no", *persistence]
        args += REDIS_MEMORY
        with (self.data_dir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        try:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise RuntimeError((self.data_dir / "redis.log").read_text()[-2000:])
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.05)
            raise RuntimeError("redis-server did not answer PING")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as in a crash: no shutdown, no final AOF flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)

    def stop(self) -> None:
        """SIGTERM: Redis shuts down cleanly (flushing its AOF)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def own_redis(data_dir: Path, *, persistent: bool) -> Iterator[OwnRedis]:
    server = OwnRedis(data_dir)
    server.start(persistent=persistent)
    try:
        yield server
    finally:
        server.stop()


class OwnMongo:
    """A mongoeco of the test's own on a fixed port, its data in a SQLite file: stoppable and
    restartable there with the data it had (`devtools.embedded.start_mongo` picks a new port)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.server: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        args = ["--path", str(self.path), "--port", str(self.port), "--exit-on-stdin-eof"]
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.embedded_mongo", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=python_env(),
            start_new_session=True,
        )
        self.server = ManagedProcess("mongoeco", "", process)
        try:
            self.server.url = _read_ready_url(process, START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL, as in a crash: SQLite's journal must keep the file consistent."""
        if self.server is not None:
            self.server.process.kill()
            self.server.process.wait(15)
            self.server.stop()  # closes its pipes; the process is gone already
            self.server = None

    def stop(self) -> None:
        """SIGTERM: mongoeco closes the server and the engine."""
        if self.server is not None:
            self.server.stop()
            self.server = None


@contextmanager
def own_mongo(path: Path, *, started: bool = True) -> Iterator[OwnMongo]:
    mongo = OwnMongo(path)
    if started:
        mongo.start()
    try:
        yield mongo
    finally:
        mongo.stop()
