"""The `books` command's exit codes, run as real processes: 0 done, 1 only for a finding
(`reconcile --check`: drift, in test_reconcile.py and test_large_id_lists.py), 2 for a failure,
told in one line on stderr without a traceback, so that a script never reads a broken run as
"drift found"."""

import subprocess
import sys

import pytest

from devtools.embedded import free_port, python_env

pytestmark = pytest.mark.slow  # runs the `books` command


def books(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`books ARGS` with only PATH and `env` set (no MONGODB_URL or REDIS_URL unless given)."""
    environment = python_env({"PATH": python_env()["PATH"], "JSON_LOGS": "false", **env})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_failed(done: subprocess.CompletedProcess[str], command: str, message: str) -> None:
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith(f"books {command}: failed: "), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (("reconcile", "--check"), "MONGODB_URL"),
        (("reconcile",), "MONGODB_URL"),
        (("seed",), "MONGODB_URL"),
        (("worker", "status"), "MONGODB_URL"),
        (("events", "groups"), "REDIS_URL"),
    ],
)
def test_a_command_without_its_servers_exits_2_in_one_line(
    args: tuple[str, ...], missing: str
) -> None:
    done = books(*args)
    assert_failed(done, args[0], f"MissingSetting: {missing} is not set")
    assert len(done.stderr.splitlines()) == 1


def test_an_unreachable_mongodb_exits_2_without_a_traceback() -> None:
    closed = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    redis = f"redis://127.0.0.1:{free_port()}/0"
    done = books("worker", "status", MONGODB_URL=closed, REDIS_URL=redis, MONGODB_TIMEOUT_MS="300")
    assert done.returncode == 2, done
    assert done.stderr.startswith("books worker: failed: "), done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_setting_exits_2_naming_it() -> None:
    done = books("reconcile", "--check", MONGODB_TIMEOUT_MS="soon")
    assert_failed(done, "reconcile", "mongodb_timeout_ms")


def test_a_usage_error_exits_2() -> None:
    done = books("reconcile", "--fix-everything")
    assert done.returncode == 2
    assert "unrecognized arguments: --fix-everything" in done.stderr
