"""The service driven by the real JavaScript clients a single-page app uses: Apollo Client 4
(InMemoryCache with relayStylePagination, automatic persisted queries, BatchHttpLink),
graphql-ws and graphql-http's audits, each test file of `tests/clients/` run by node's test
runner against real processes (an API and a worker on the demo data, a database of their own
per file, so that one file's writes never move another's figures).

`make test` installs the npm packages from the committed lockfile (`npm ci`).
"""

import subprocess

import pytest

from devtools.embedded import Servers
from tests.support.clients import CLIENTS_DIR, require_node_modules, require_tool, running_stack

NODE_TESTS = sorted(path.name for path in CLIENTS_DIR.glob("*.test.mjs"))
NODE_TIMEOUT = 300.0  # a whole file; each waits for pushes and worker updates with its own bound
NODE_TEST_ARGS = [
    "--test",
    "--test-reporter=spec",
    "--test-timeout=60000",  # one test, in ms
    "--test-force-exit",  # a failed test's open socket must not keep node waiting
]
LOG_TAIL = 4000  # characters of the API's log shown with a failure


def test_the_client_test_files_are_found() -> None:
    """Parametrizing over an empty list would skip silently; the files are these."""
    assert NODE_TESTS == [
        "batch.test.mjs",
        "book_page.test.mjs",
        "http_audit.test.mjs",
        "mutations.test.mjs",
        "subscription.test.mjs",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("test_file", NODE_TESTS)
def test_javascript_client(test_file: str, servers: Servers) -> None:
    node = require_tool("node")
    require_node_modules()
    with running_stack(servers) as stack:
        try:
            done = subprocess.run(
                [node, *NODE_TEST_ARGS, test_file],
                cwd=CLIENTS_DIR,
                env=stack.client_env(),
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
            )
            outcome, output = f"exit {done.returncode}", f"{done.stdout}\n{done.stderr}"
        except subprocess.TimeoutExpired as timed_out:
            outcome, output = f"still running after {NODE_TIMEOUT:.0f} s", str(timed_out.output)
            done = None
        api_log = stack.api.child.output()[-LOG_TAIL:]
    assert done is not None and done.returncode == 0, (
        f"node --test {test_file} failed ({outcome}):\n{output}\n"
        f"--- end of the API's log ---\n{api_log}"
    )
