"""The committed SPA (app/static/web/) and its generated types (web/src/gql/) are what the
sources build to: `npm run check` in web/ regenerates the types and rebuilds into temporary
folders and compares byte for byte. Needs web/node_modules (`make test` runs `npm ci` when npm
is there); skipped without it, failing instead under CI=true."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.browser import missing

WEB = Path(__file__).resolve().parent.parent / "web"

pytestmark = pytest.mark.slow


def test_the_committed_build_and_types_match_the_sources() -> None:
    if shutil.which("node") is None or not (WEB / "node_modules" / ".bin" / "vite").exists():
        missing("Node.js or web/node_modules", "npm ci in web/ (`make test` does it)")
    check = subprocess.run(
        ["node", "scripts/build-check.mjs"], cwd=WEB, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == "build: app/static/web/ matches the sources"
