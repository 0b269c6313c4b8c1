"""The suite's own layout: shared helpers live in tests/support/ and a test module imports from
there, never from another test module or from conftest (whose fixtures pytest injects). A test
module that serves as another's helper library hides its helpers from whoever looks for them,
and running one test module then collects another."""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_modules(source: str, package: str) -> list[str]:
    """Every module (or module member) `source` imports, relative imports resolved against
    `package`, the dotted package of the file."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


def forbidden(module: str) -> bool:
    """A test module or conftest of the tests package."""
    parts = module.split(".")
    return parts[0] == "tests" and len(parts) > 1 and parts[1].startswith(("test_", "conftest"))


def test_no_module_of_the_suite_imports_a_test_module_or_conftest() -> None:
    offenders = set()
    for path in sorted(TESTS.rglob("*.py")):
        package = ".".join(path.relative_to(TESTS.parent).parent.parts)
        for module in imported_modules(path.read_text(), package):
            if forbidden(module):
                offenders.add(f"{path.relative_to(TESTS.parent)}: {module}")
    assert offenders == set(), "import shared helpers from tests/support/ instead"


def test_tests_holds_only_test_modules_conftest_and_the_support_package() -> None:
    strays = {
        path.name
        for path in TESTS.glob("*.py")
        if path.name not in {"__init__.py", "conftest.py"} and not path.name.startswith("test_")
    }
    assert strays == set(), "helpers shared by test modules go in tests/support/"


@pytest.mark.parametrize(
    "statement",
    [
        "from tests.test_worker import world",
        "import tests.test_worker",
        "from tests import test_worker",
        "from . import test_worker",
        "from .test_worker import world",
        "from tests.conftest import DemoApp",
        "from ..test_worker import world",  # from inside tests/support/
    ],
)
def test_every_form_of_importing_a_test_module_is_caught(statement: str) -> None:
    package = "tests.support" if statement.startswith("from ..") else "tests"
    assert any(forbidden(m) for m in imported_modules(statement, package))


@pytest.mark.parametrize(
    "statement", ["from tests.support.pipeline import world", "from .support import app"]
)
def test_imports_from_the_support_package_are_allowed(statement: str) -> None:
    assert not any(forbidden(m) for m in imported_modules(statement, "tests"))
