"""A standalone Milvus server for the backend tests, started from PyPI's ``milvus`` package.

``$MILVUS_TEST_URI`` points the tests at a server that is already running (e.g. a cluster);
otherwise the ``milvus-server`` command of the ``milvus`` package is started on a free port with
its data in a temporary folder, and stopped when the tests end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pymilvus import MilvusClient, MilvusException

URI_ENV = "MILVUS_TEST_URI"
#: Runs the ``milvus-server`` command of the ``milvus`` package with this interpreter.
_RUN_SERVER = "import sys, milvus; sys.exit(milvus.main())"
#: Ports the embedded server always takes (its etcd and metrics), whatever the proxy port.
FIXED_PORTS = (2379, 2380, 9091)
#: The first start unpacks the server's binaries, which takes a while on a slow disk.
START_TIMEOUT_SECONDS = 180.0


class ServerUnavailable(Exception):
    """Why no Milvus server could be reached or started."""


def _in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(uri: str) -> bool:
    try:
        client = MilvusClient(uri, timeout=2)
    except MilvusException:
        return False
    client.close()
    return True


@contextmanager
def milvus_server() -> Iterator[str]:
    """Yields the URI of a running Milvus server; raises ServerUnavailable saying why not."""
    if os.environ.get(URI_ENV):
        yield os.environ[URI_ENV]
        return
    if importlib.util.find_spec("milvus") is None:
        raise ServerUnavailable("the `milvus` package is not installed (pip install milvus)")
    busy = [port for port in FIXED_PORTS if _in_use(port)]
    if busy:
        raise ServerUnavailable(f"ports {busy} are taken (another Milvus or etcd is running?)")
    data_dir = Path(tempfile.mkdtemp(prefix="milvus-test-"))
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_SERVER, "--data", str(data_dir), "--proxy-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _reachable(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"milvus-server did not answer on port {port} within "
                    f"{START_TIMEOUT_SECONDS:.0f} s (its logs: {data_dir / 'logs'})"
                )
            time.sleep(1)
        yield uri
        shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Asks the server to stop as Ctrl+C would, then makes sure its whole group is gone."""
    os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
