"""Headless Chromium for the browser tests and `make screenshot`: Debian's chromium driven by
Playwright (never `playwright install`), axe-core from web/'s node_modules, a static server
that hosts the built SPA on another origin, and the policy for a missing tool: skipped with
the hint to install it, but under CI=true the run fails."""

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WEB_BUILD = ROOT / "app" / "static" / "web"
AXE_SCRIPT = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def missing(what: str, hint: str) -> NoReturn:
    """Skip the test, or fail it under CI=true (CI must never pass without the clients)."""
    message = f"{what} not found: {hint}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str:
    """Debian's chromium (never a browser downloaded by Playwright)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    missing("Chromium", "apt-get install chromium (Debian), or put a Chromium binary on PATH")


def require_browser(axe: bool = False) -> str:
    """The browser, its driver (and axe-core), checked before any process starts."""
    executable = chromium_path()
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing("Playwright for Python", "pip install -e '.[dev]' (`make test` does it)")
    if axe and not AXE_SCRIPT.exists():
        missing(str(AXE_SCRIPT.relative_to(ROOT)), "npm ci in web/ (`make test` does it)")
    return executable


async def launch(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


async def serious_accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (evaluated through
    the DevTools protocol, which the page's Content-Security-Policy does not restrict)."""
    await page.evaluate(AXE_SCRIPT.read_text() + "\nvoid 0;")
    result = await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


class _SpaFiles(SimpleHTTPRequestHandler):
    """The built SPA as a static host (a CDN, say) serves it: index.html names the API."""

    def __init__(self, *args: Any, api_url: str, **kwargs: Any) -> None:
        self.api_url = api_url
        super().__init__(*args, directory=str(WEB_BUILD), **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/index.html"):
            super().do_GET()
            return
        page = (WEB_BUILD / "index.html").read_text()
        page = page.replace('content="/graphql"', f'content="{self.api_url}"')
        body = page.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def spa_on_another_origin(port: int, api_url: str) -> Iterator[str]:
    """Serve the built SPA at http://127.0.0.1:<port>/, talking to the API at `api_url`."""
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_SpaFiles, api_url=api_url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
