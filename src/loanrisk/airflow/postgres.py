"""A throwaway PostgreSQL server for Airflow's metadata database, from the machine's server
binaries (Debian's ``postgresql-15``: ``initdb``, ``pg_ctl``, ``postgres``).

The cluster lives in a fresh temporary folder and listens on a free loopback port; its unix
socket is in that folder too. PostgreSQL refuses to run as root, so when this process is root
the server runs as an unprivileged account (``runuser -u USER --``) that owns the folder:
``$LOANRISK_PG_USER``, else Debian's ``postgres`` account, else a ``loanrisk`` system account
created with ``useradd``. Durability is off (``fsync``, ``synchronous_commit``,
``full_page_writes``): the database is dropped with the folder when the server stops.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loanrisk.errors import DeploymentError

#: The server binaries; ``$LOANRISK_PG_BIN`` points elsewhere (another major version).
PG_BIN = Path(os.environ.get("LOANRISK_PG_BIN", "/usr/lib/postgresql/15/bin"))
#: The database and its owner (the cluster's superuser) that Airflow connects as.
DATABASE = "airflow"
#: Created with ``useradd`` when neither ``$LOANRISK_PG_USER`` nor ``postgres`` exists.
FALLBACK_USER = "loanrisk"
#: Throwaway cluster: no crash safety needed, so no fsync (a migration is several times faster).
SERVER_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass
class Postgres:
    """A running server: its folder, port, the OS account running it and Airflow's password."""

    folder: Path
    port: int
    user: str | None
    password: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self) -> str:
        """SQLAlchemy URL through psycopg 3, which serves both Airflow's sync and async engines
        (``sql_alchemy_conn`` and ``sql_alchemy_conn_async``; asyncpg is not needed)."""
        return f"postgresql+psycopg://{DATABASE}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def connect(self, dbname: str = DATABASE):
        """A psycopg connection to the metadata database (autocommit)."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=DATABASE,
            password=self.password,
            dbname=dbname,
            autocommit=True,
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            _pg(self.user, "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_user() -> str | None:
    """The account the server runs as: None (this one) unless this process is root."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("LOANRISK_PG_USER"), "postgres"):
        if name and _account_exists(name):
            return name
    if not _account_exists(FALLBACK_USER):
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                FALLBACK_USER,
            ],
            check=True,
            capture_output=True,
        )
    return FALLBACK_USER


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _pg(user: str | None, program: str, *args: str) -> None:
    """Run a server binary as ``user``; a failure raises ``DeploymentError`` with its output."""
    command = [str(PG_BIN / program), *args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise DeploymentError(f"PostgreSQL {program}", lines[-1] if lines else done.returncode)


def _own(path: Path, user: str | None) -> None:
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(path, account.pw_uid, account.pw_gid)


def start_postgres() -> Postgres:
    """initdb a cluster in a new temporary folder, start it on a free loopback port and create
    Airflow's database; password authentication (scram-sha-256) for every connection."""
    if not (PG_BIN / "postgres").is_file():
        raise DeploymentError("PostgreSQL", f"no server binaries in {PG_BIN}")
    user = server_user()
    folder = Path(tempfile.mkdtemp(prefix="loanrisk-pg-"))  # 0700, under a world-searchable tmp
    _own(folder, user)
    server = Postgres(folder, free_port(), user, secrets.token_urlsafe(24))
    try:
        _initdb(server)
        options = " ".join(f"-c {option}" for option in SERVER_OPTIONS)
        listen = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} {options}"
        log = str(folder / "postgres.log")
        _pg(user, "pg_ctl", "-D", str(server.data), "-l", log, "-o", listen, "-w", "start")
        with server.connect("postgres") as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
    except BaseException:
        server.stop()
        raise
    return server


def _initdb(server: Postgres) -> None:
    """The cluster, its superuser ``airflow`` with the server's password (from a file the
    server's account reads once, then deleted)."""
    secret = server.folder / "password"
    secret.write_text(server.password, encoding="utf-8")
    secret.chmod(0o600)
    _own(secret, server.user)
    try:
        _pg(
            server.user,
            "initdb",
            "-D",
            str(server.data),
            f"--username={DATABASE}",
            f"--pwfile={secret}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
    finally:
        secret.unlink(missing_ok=True)
