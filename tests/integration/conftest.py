"""End-to-end helpers: ResumableOSSFileSystem over real sockets against the local OSS server.

Everything here is real: oss2 over HTTP on loopback, the engine, the local
filesystem. Objects stay small (a few MiB) and parts small (256 KiB), so that
many parts, retries and resumes happen quickly.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.callbacks import Callback

from oss_resumable_fs import ResumableOSSFileSystem, TransferConfig
from oss_resumable_fs.config import KiB
from oss_resumable_fs.testing import OSSServer

PART = 256 * KiB
#: Small parts, few connections, short waits: every fault test stays fast.
CONFIG = TransferConfig(
    part_size=PART,
    concurrency=4,
    single_request_threshold=512 * KiB,
    read_timeout=5.0,
    connect_timeout=5.0,
    backoff_base=0.01,
    backoff_max=0.05,
)
#: Engine files kept beside a destination while a download is unfinished.
ENGINE_SUFFIXES = (".ossr-partial", ".ossr-journal", ".ossr-lock")


def make_data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def engine_files(directory: str | os.PathLike[str]) -> list[str]:
    """Every ``.ossr-*`` file below ``directory``."""
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if ".ossr-" in f]
    return sorted(found)


def make_fs(
    oss_server: OSSServer, config: TransferConfig = CONFIG, **kwargs: Any
) -> ResumableOSSFileSystem:
    options: dict[str, Any] = {
        "endpoint": oss_server.endpoint,
        "key": oss_server.access_key_id,
        "secret": oss_server.access_key_secret,
    }
    options.update(kwargs)
    return ResumableOSSFileSystem(transfer_config=config, skip_instance_cache=True, **options)


@pytest.fixture
def fs(oss_server: OSSServer) -> ResumableOSSFileSystem:
    return make_fs(oss_server)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A fresh local directory for downloads."""
    path = tmp_path / "out"
    path.mkdir()
    return path


class RecordingCallback(Callback):
    """An fsspec callback that records every call, and its children's (``branched``)."""

    def __init__(self, on_update: Any = None) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.sizes: list[int] = []
        self.updates: list[int] = []
        self.children: dict[tuple[str, str], RecordingCallback] = {}
        self.on_update = on_update

    def set_size(self, size: int) -> None:
        with self.lock:
            self.sizes.append(size)
        super().set_size(size)

    def relative_update(self, inc: int = 1) -> None:
        with self.lock:
            self.updates.append(inc)
            total = sum(self.updates)
        super().relative_update(inc)
        if self.on_update is not None:
            self.on_update(total)

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> RecordingCallback:
        child = RecordingCallback()
        with self.lock:
            self.children[(path_1, path_2)] = child
        return child

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.updates)


class RecordingProxy:
    """A TCP relay on loopback in front of the server.

    It counts client connections and keeps every byte clients sent, so tests
    can read the request lines and headers exactly as they went over the wire.
    Only for GET / HEAD traffic (request blocks are split at blank lines).
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._streams: list[bytearray] = []
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._streams)

    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(request line, lower-cased headers) of every request, per connection in order."""
        with self._lock:
            streams = [bytes(s) for s in self._streams]
        found = []
        for stream in streams:
            for block in stream.split(b"\r\n\r\n"):
                if not block.strip():
                    continue
                line, *rest = block.decode("latin-1").split("\r\n")
                headers = {}
                for header in rest:
                    name, _, value = header.partition(":")
                    headers[name.strip().lower()] = value.strip()
                found.append((line, headers))
        return found

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            record = bytearray()
            with self._lock:
                self._streams.append(record)
                self._sockets += [client, server]
            for args in ((client, server, record), (server, client, None)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        try:
            while data := source.recv(256 * KiB):
                if record is not None:
                    with self._lock:
                        record += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            sock.close()


@pytest.fixture
def proxy(oss_server: OSSServer) -> Iterator[RecordingProxy]:
    relay = RecordingProxy(oss_server.endpoint)
    yield relay
    relay.close()


@contextlib.contextmanager
def local_cluster(threads_per_worker: int) -> Iterator[Any]:
    """A dask ``distributed`` client on two worker processes, closed with bounded waits."""
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=threads_per_worker, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=20)
        with contextlib.suppress(Exception):
            cluster.close(timeout=20)
