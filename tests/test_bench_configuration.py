"""The benchmark measures production's variants through configuration points only (settings,
parameters production itself uses with their defaults, or its own composition of public
building blocks), never by patching production: a patch that a rename turns into a no-op
would show production's figures under a variant's name, and a hook kept for it would be
production code with no production use. So bench/ assigns to no attribute of anything it
imports, and a bench subclass of a production class overrides only what its base defines."""

import ast
import importlib
from pathlib import Path

import pytest

from schema.http.endpoint import GraphQLEndpoint
from schema.loaders import Loaders

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PRODUCTION = {"app", "schema", "service", "workers"}


def _imported_names(tree: ast.AST) -> set[str]:
    """The names a module binds by import, anywhere in it (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign | ast.Delete):
        found = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        found = [node.target]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"setattr", "delattr"}
        and node.args
    ):
        found = [ast.copy_location(ast.Attribute(node.args[0], "?", ast.Store()), node)]
    else:
        return []
    flat: list[ast.expr] = []
    while found:
        target = found.pop()
        if isinstance(target, ast.Tuple | ast.List | ast.Starred):
            found += target.elts if not isinstance(target, ast.Starred) else [target.value]
        else:
            flat.append(target)
    return flat


def patches(source: str) -> list[str]:
    """Assignments (or setattr/delattr, or deletions) to an attribute, or an item of one,
    reached from a name the module imported: `module.symbol = ...`, `Class.method = ...`."""
    tree = ast.parse(source)
    imported = _imported_names(tree)
    return [
        f"line {target.lineno}: {ast.unparse(target)}"
        for node in ast.walk(tree)
        for target in _targets(node)
        if isinstance(target, ast.Attribute | ast.Subscript) and _root(target) in imported
    ]


def stray_overrides(cls: type) -> list[str]:
    """Names a subclass of production classes defines that none of its production bases
    has: an override that a rename in production left pointing at nothing."""
    bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] in PRODUCTION]
    if not bases:
        return []
    own = [n for n in vars(cls) if not (n.startswith("__") and n.endswith("__"))]
    return [f"{cls.__qualname__}.{n}" for n in own if not any(hasattr(b, n) for b in bases)]


def _bench_modules() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", _bench_modules(), ids=lambda p: p.name)
def test_bench_assigns_to_no_attribute_of_what_it_imports(path: Path) -> None:
    assert patches(path.read_text()) == [], "configure the variant; don't patch production"


@pytest.mark.parametrize("path", _bench_modules(), ids=lambda p: p.name)
def test_bench_subclasses_of_production_classes_override_only_what_exists(path: Path) -> None:
    if not any(isinstance(n, ast.ClassDef) for n in ast.parse(path.read_text()).body):
        return
    module = importlib.import_module(f"bench.{path.stem}")
    classes = [
        c for c in vars(module).values() if isinstance(c, type) and c.__module__ == module.__name__
    ]
    assert [s for c in classes for s in stray_overrides(c)] == []


@pytest.mark.parametrize(
    "statement",
    [
        "from service.repositories import entries\nentries.fetch_page = f",
        "import schema.limits\nschema.limits.Limits.extensions = f",
        "import app.asgi\napp.asgi.open_services = f",
        "from schema.loaders import Loaders\nLoaders.__init__ = f",
        "from service.persisted_queries import PersistedQueries as P\nP._stored = f",
        "def fix():\n    import service.ids\n    service.ids._encode_key_value = f",
        "from schema.definition import EXECUTION_CONTEXTS\nEXECUTION_CONTEXTS['x'] = f",
        "import schema.types.book\nsetattr(schema.types.book, 'users', f)",
        "import schema.types.book as book\nbook.users, x = f, 1",
    ],
)
def test_the_patch_check_finds_a_monkeypatch(statement: str) -> None:
    assert patches(statement) != []


def test_the_patch_check_leaves_local_objects_alone() -> None:
    source = "from x import make\nthing = make()\nthing.value = 1\nroutes[0:0] = []\n"
    assert patches(source) == []


def test_the_override_check_finds_an_override_of_a_renamed_method() -> None:
    class Renamed(Loaders):
        async def users_by_idz(self) -> None: ...

    class Kept(GraphQLEndpoint):
        loaders_class = Renamed

    assert stray_overrides(Renamed) == [f"{Renamed.__qualname__}.users_by_idz"]
    assert stray_overrides(Kept) == []
