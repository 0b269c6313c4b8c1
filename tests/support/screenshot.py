"""`make screenshot`: the book page as Chromium renders it, written to docs/book-page.png for
the README. Drives the browser the browser tests use, against the page at URL when one is
given (`python -m tests.support.screenshot http://127.0.0.1:8000/`), otherwise against servers
of its own: embedded MongoDB and Redis in memory, the demo data at `make dev`'s scale, an API
process and a worker, all stopped afterwards."""

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

from devtools.demo.loader import load_demo
from devtools.embedded import embedded_servers
from tests.support.app import app_settings, running_app
from tests.support.browser import launch, missing_browser_tools
from tests.support.processes import running, start_api, start_worker
from workers.reconcile import reconcile

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "book-page.png"
DEMO_SCALE = 0.02
VIEWPORT = {"width": 1280, "height": 1500}


async def capture(url: str, output: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        await page.goto(url)
        await expect(page.locator(".histogram li")).to_have_count(5)
        await page.wait_for_load_state("networkidle")
        output.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(output), animations="disabled")
        await browser.close()


@contextmanager
def demo_api() -> Iterator[str]:
    """The URL of an API serving the demo data, with a worker, on servers of its own."""
    with embedded_servers(None) as servers:
        settings = app_settings(servers.mongodb_url, servers.redis_url)

        async def load() -> None:
            async with running_app(settings) as app:
                await load_demo(app.services.store, DEMO_SCALE)
                await reconcile(app.services.store, fix=True)

        asyncio.run(load())
        api = start_api(settings)
        worker = start_worker(settings, f"screenshot-{uuid4().hex[:6]}")
        with running(api.child, worker):
            yield api.url + "/"


def main(argv: list[str]) -> int:
    reason = missing_browser_tools()
    if reason:
        print(f"screenshot: {reason}", file=sys.stderr)
        return 1
    if argv:
        asyncio.run(capture(argv[0], OUTPUT))
    else:
        with demo_api() as url:
            asyncio.run(capture(url, OUTPUT))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
