"""A throwaway PostgreSQL + PostGIS cluster for tests, owned by the test run.

:func:`start_cluster` runs ``initdb`` and ``pg_ctl`` from Debian's packages
(``postgresql`` and ``postgresql-NN-postgis-3``) in a temporary folder, on a
free loopback port with a Unix socket in that folder, trusting local
connections; as root it runs them as the ``postgres`` OS user (PostgreSQL
refuses to run as root).  It creates a database with the ``postgis``
extension and answers its URL; :meth:`Cluster.stop` stops the server and
removes the folder.

Use :func:`postgis_url_fixture` in a ``conftest.py`` (any test package)::

    postgis_url = postgis_url_fixture()

Without the binaries the fixture skips, or fails when ``CI=true``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATABASE = "dangjian_test"


class ClusterUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed here."""


def _bindir() -> Path:
    """The newest ``/usr/lib/postgresql/NN/bin`` holding ``initdb``, else the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    msg = "PostgreSQL is not installed (no initdb): install the Debian packages `postgresql` and `postgresql-NN-postgis-3`"
    raise ClusterUnavailable(msg)


def _check_postgis(bindir: Path) -> None:
    pg_config = bindir / "pg_config"
    share = None
    if pg_config.exists():
        share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=False).stdout.strip()
    if not share:
        share = f"/usr/share/postgresql/{bindir.parts[-2]}"
    if not Path(share, "extension", "postgis.control").exists():
        msg = f"PostGIS is not installed for PostgreSQL in {bindir} (install `postgresql-{bindir.parts[-2]}-postgis-3`)"
        raise ClusterUnavailable(msg)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for throwaway servers of the tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running test cluster."""

    root: Path
    port: int
    bindir: Path
    run_as: dict[str, Any]

    @property
    def url(self) -> str:
        """URL of the test database (user ``postgres``, trusted on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self) -> None:
        """Stop the server (immediately) and remove its folder."""
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            **self.run_as,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """Start a cluster with a ``dangjian_test`` database that has PostGIS.

    Raises
    ------
    ClusterUnavailable
        PostgreSQL or PostGIS binaries are missing.
    RuntimeError
        The cluster did not start (the server log is in the message).
    """
    bindir = _bindir()
    _check_postgis(bindir)
    root = Path(tempfile.mkdtemp(prefix="dj-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            msg = "running as root but there is no `postgres` OS user to run the server as"
            raise ClusterUnavailable(msg) from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    data = root / "data"
    try:
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"],
            capture_output=True,
            check=True,
            cwd=root,
            **run_as,
        )
        last_error = ""
        for _ in range(3):
            port = free_port()
            options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            started = subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "30", "start"],
                capture_output=True,
                text=True,
                check=False,
                cwd=root,
                **run_as,
            )
            if started.returncode == 0:
                break
            last_error = started.stderr + Path(root / "server.log").read_text(errors="replace")[-2000:]
        else:
            msg = f"the test PostgreSQL did not start: {last_error}"
            raise RuntimeError(msg)
        cluster = Cluster(root=root, port=port, bindir=bindir, run_as=run_as)
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        return cluster
    except BaseException:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, check=False, **run_as
        )
        shutil.rmtree(root, ignore_errors=True)
        raise


def postgis_url_fixture(scope: str = "session") -> Any:
    """A pytest fixture answering the URL of a throwaway PostGIS database (started once per scope).

    Skips when PostgreSQL/PostGIS are not installed, except under ``CI=true``,
    where it fails with the reason.
    """

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def postgis_url() -> Iterator[str]:
        try:
            cluster = start_cluster()
        except ClusterUnavailable as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"PostGIS tests need PostgreSQL with PostGIS in CI: {exc}")
            pytest.skip(str(exc))
        try:
            yield cluster.url
        finally:
            cluster.stop()

    return postgis_url
