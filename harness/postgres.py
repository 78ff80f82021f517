"""A throwaway PostgreSQL server on 127.0.0.1 for the production instance's tests: a fresh data
folder (initdb), the server started in the foreground as its own process, one database, and the
server stopped by its own process id. PostgreSQL refuses to run as root, so as root (CI, this
machine) the server runs as the `postgres` system user that Debian's package creates."""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.servers import free_port, listens, stop, wait_for

DATABASE = "dagster"


class PostgresNotFoundError(RuntimeError):
    pass


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (initdb, postgres, pg_isready)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if candidates:
        return candidates[0].parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise PostgresNotFoundError(
        "no PostgreSQL server found for the production instance's tests: "
        "`apt-get install -y postgresql` (what scripts/ensure-postgres.sh does)"
    )


def _as_server_user() -> list[str]:
    """The prefix that runs a command as a user PostgreSQL accepts (not root)."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # KeyError: the package's user is missing
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server with a database `dagster`; yields its URL. Its data and log are in a folder of
    its own under the system's temporary folder (pytest's are private to root, and the server
    runs as `postgres`), removed afterwards."""
    binaries, prefix = postgres_bin(), _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="addon-okrs-postgres-"))
    data, log = folder / "data", folder / "postgres.log"
    if prefix:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "dagster", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    server, port = None, 0
    for attempt in range(1, 4):
        port = free_port()
        with open(log, "ab") as out:
            command = [str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1"]
            server = subprocess.Popen(
                [*prefix, *command, "-p", str(port), "-k", str(folder)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready(p: subprocess.Popen[bytes] = server, n: int = port) -> bool:
            probe = [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(n)]
            ours = listens(p, n)  # not another server that took the port first
            return ours and subprocess.run(probe, capture_output=True).returncode == 0

        try:
            wait_for(ready, f"PostgreSQL on 127.0.0.1:{port} (log: {log})", [server], timeout=60)
            break
        except RuntimeError:  # it exited: most likely the port was taken; another one
            if attempt == 3:
                shutil.rmtree(folder, ignore_errors=True)
                raise
    assert server is not None
    try:
        createdb = [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
        subprocess.run([*createdb, "-U", "dagster", DATABASE], check=True, capture_output=True)
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres ships psycopg2.
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/{DATABASE}"
    finally:
        stop(server)
        shutil.rmtree(folder, ignore_errors=True)
