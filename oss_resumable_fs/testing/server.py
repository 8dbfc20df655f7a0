"""``OSSServer``: a handle on a local OSS server, in a thread or in a subprocess.

Thread mode runs the asyncio loop in a daemon thread of the current process --
quick to start, ideal for tests. Process mode runs ``python -m
oss_resumable_fs.testing`` in a subprocess and drives it over the control
endpoint (:mod:`.control`), so the server does not share the client's GIL
(benchmarks, demos). Both modes offer the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from oss_resumable_fs.testing.auth import Credential
from oss_resumable_fs.testing.control import PREFIX, SECRET_HEADER
from oss_resumable_fs.testing.faults import FaultKind, FaultRule
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.runtime import Running, start_server
from oss_resumable_fs.testing.state import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_REGION,
    ServerState,
)
from oss_resumable_fs.testing.stats import StatsSnapshot
from oss_resumable_fs.testing.storage import Storage

START_TIMEOUT = 30.0

Data = bytes | str | os.PathLike[str]


class _Backend(Protocol):
    endpoint: str

    def stop(self) -> None: ...
    def create_bucket(self, name: str, acl: str) -> None: ...
    def put_object(self, bucket: str, key: str, data: Data, storage_class: str) -> None: ...
    def add_credential(self, credential: Credential) -> None: ...
    def add_fault(self, rule: FaultRule) -> int: ...
    def remove_fault(self, rule_id: int) -> None: ...
    def clear_faults(self) -> None: ...
    def active_faults(self) -> dict[int, FaultRule]: ...
    def stats(self) -> StatsSnapshot: ...
    def reset_stats(self) -> None: ...
    def set_restore_delay(self, seconds: float) -> None: ...


class ControlError(RuntimeError):
    """The server refused a handle call (bucket exists, no such bucket, bad rule, ...)."""


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """Report storage refusals in thread mode as process mode does: as ControlError."""
    try:
        yield
    except OSSError as err:
        raise ControlError(f"{err.code}: {err.message}") from None


class _ThreadBackend:
    """The server's event loop in a daemon thread; the handle calls the state directly."""

    def __init__(self, state: ServerState, host: str, port: int) -> None:
        self._state = state
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ossr-server", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_server(state, host, port), self._loop)
        try:
            self._running: Running = future.result(START_TIMEOUT)
        except BaseException:
            self._shutdown_loop()
            raise
        self.endpoint = self._running.endpoint

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT)
        self._loop.close()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._finish(), self._loop).result(START_TIMEOUT)
        self._shutdown_loop()

    async def _finish(self) -> None:
        """Stop serving, then cancel what is left (e.g. a handler in a long stall)."""
        await self._running.stop()
        current = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not current]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def create_bucket(self, name: str, acl: str) -> None:
        with _refusals():
            self._state.storage.create_bucket(name, acl=acl)

    def put_object(self, bucket: str, key: str, data: Data, storage_class: str) -> None:
        storage = self._state.storage
        with _refusals():
            if isinstance(data, (bytes, bytearray, memoryview)):
                storage.put_bytes(bucket, key, [bytes(data)], storage_class=storage_class)
            else:
                storage.put_file(bucket, key, data, storage_class=storage_class)

    def add_credential(self, credential: Credential) -> None:
        self._state.add_credential(credential)

    def add_fault(self, rule: FaultRule) -> int:
        return self._state.faults.add(rule)

    def remove_fault(self, rule_id: int) -> None:
        self._state.faults.remove(rule_id)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def active_faults(self) -> dict[int, FaultRule]:
        return self._state.faults.rules()

    def stats(self) -> StatsSnapshot:
        return self._state.stats.snapshot()

    def reset_stats(self) -> None:
        self._state.stats.reset()

    def set_restore_delay(self, seconds: float) -> None:
        self._state.set_restore_delay(seconds)


class _ProcessBackend:
    """``python -m oss_resumable_fs.testing`` in a subprocess, driven over HTTP."""

    def __init__(self, args: list[str], secret: str) -> None:
        self._secret = secret
        # A session of its own: a Ctrl-C (or a notebook's Interrupt) sent to the
        # parent's process group must not stop the server under the code being
        # interrupted. It stops with its parent instead: when the parent exits,
        # the pipe to its standard input closes.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "oss_resumable_fs.testing", "--exit-with-stdin", *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http"):
            self._process.kill()
            self._process.wait()
            raise RuntimeError(f"the OSS server did not start (first line: {line!r})")
        self.endpoint = line

    def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.terminate()
        try:
            self._process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _call(
        self, method: str, path: str, payload: Any = None, *, data: bytes | None = None
    ) -> Any:
        headers = {SECRET_HEADER: self._secret}
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.endpoint + PREFIX + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise ControlError(f"{method} {path}: {err.code} {detail}") from None

    def create_bucket(self, name: str, acl: str) -> None:
        self._call("POST", "/buckets", {"name": name, "acl": acl})

    def put_object(self, bucket: str, key: str, data: Data, storage_class: str) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            quoted = urllib.parse.quote(f"{bucket}/{key}", safe="/")
            path = f"/objects/{quoted}?storage_class={urllib.parse.quote(storage_class)}"
            self._call("PUT", path, data=bytes(data))
        else:
            payload = {"bucket": bucket, "key": key, "path": str(Path(data).resolve())}
            self._call("POST", "/objects", {**payload, "storage_class": storage_class})

    def add_credential(self, credential: Credential) -> None:
        payload = {
            "access_key_id": credential.access_key_id,
            "access_key_secret": credential.access_key_secret,
            "security_token": credential.security_token,
        }
        self._call("POST", "/credentials", payload)

    def add_fault(self, rule: FaultRule) -> int:
        return int(self._call("POST", "/faults", rule.to_dict())["id"])

    def remove_fault(self, rule_id: int) -> None:
        self._call("DELETE", f"/faults/{rule_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def active_faults(self) -> dict[int, FaultRule]:
        rules = self._call("GET", "/faults")["rules"]
        return {int(i): FaultRule.from_dict(rule) for i, rule in rules.items()}

    def stats(self) -> StatsSnapshot:
        return StatsSnapshot.from_dict(self._call("GET", "/stats"))

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def set_restore_delay(self, seconds: float) -> None:
        self._call("PUT", "/restore-delay", {"seconds": seconds})


class OSSServer:
    """A local OSS-compatible server for tests, benchmarks and demos.

    >>> with OSSServer() as server:
    ...     server.create_bucket("demo")
    ...     server.put_object("demo", "hello.txt", b"hello")
    ...     # point oss2 / ossfs / alibabacloud-oss-v2 at server.endpoint with
    ...     # server.access_key_id / server.access_key_secret

    ``root`` keeps the objects in that directory (default: a temporary one,
    removed on :meth:`stop`). ``seed`` makes fault probabilities and replaced
    contents reproducible.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        region: str = DEFAULT_REGION,
        seed: int = 0,
        mode: Literal["thread", "process"] = "thread",
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        self.root = None if root is None else Path(root)
        self.host, self.port, self.mode, self.seed = host, port, mode, seed
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.region = region
        self._backend: _Backend | None = None
        self._temp_root: str | None = None

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> OSSServer:
        if self._backend is not None:
            return self
        if self.mode == "thread":
            if self.root is None:
                self._temp_root = tempfile.mkdtemp(prefix="ossr-server-")
            state = ServerState(
                Storage(self.root or self._temp_root),  # type: ignore[arg-type]
                access_key_id=self.access_key_id,
                access_key_secret=self.access_key_secret,
                region=self.region,
                seed=self.seed,
            )
            self._backend = _ThreadBackend(state, self.host, self.port)
        else:
            args = ["--host", self.host, "--port", str(self.port), "--region", self.region]
            args += ["--access-key-id", self.access_key_id, "--seed", str(self.seed)]
            args += ["--access-key-secret", self.access_key_secret]
            if self.root is not None:
                args += ["--root", str(self.root)]
            self._backend = _ProcessBackend(args, self.access_key_secret)
        return self

    def stop(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.stop()
        if self._temp_root is not None:
            shutil.rmtree(self._temp_root, ignore_errors=True)
            self._temp_root = None

    def __enter__(self) -> OSSServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def _running(self) -> _Backend:
        if self._backend is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._backend

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``; objects are addressed path-style (``/bucket/key``)."""
        return self._running.endpoint

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with its ``OSS_*`` variables
        replaced by this server's endpoint and keys: for a child process (the CLI,
        IPython) that must talk to this server, whatever the caller's own settings."""
        source = os.environ if base is None else base
        env = {k: v for k, v in source.items() if not k.startswith("OSS_")}
        env.update(
            OSS_ENDPOINT=self.endpoint,
            OSS_ACCESS_KEY_ID=self.access_key_id,
            OSS_ACCESS_KEY_SECRET=self.access_key_secret,
        )
        return env

    def __repr__(self) -> str:
        where = self._backend.endpoint if self._backend else "stopped"
        return f"OSSServer({where}, mode={self.mode!r})"

    # -- seeding -------------------------------------------------------------------

    def create_bucket(self, name: str, acl: str = "private") -> None:
        """Create a bucket directly; ``acl`` is ``private``, ``public-read`` or
        ``public-read-write`` (anonymous reads, and writes, are allowed on public ones)."""
        self._running.create_bucket(name, acl)

    def put_object(
        self, bucket: str, key: str, data: Data, storage_class: str = "Standard"
    ) -> None:
        """Store an object directly (no HTTP upload). ``data`` is bytes or a local file path;
        a path is copied in chunks, so big objects never sit in memory."""
        if isinstance(data, str) and not isinstance(data, os.PathLike):
            data = Path(data)
        self._running.put_object(bucket, key, data, storage_class)

    def add_sts_credential(self, access_key_id: str, access_key_secret: str, token: str) -> None:
        """Accept temporary (STS) credentials: requests must carry ``token``."""
        self._running.add_credential(Credential(access_key_id, access_key_secret, token))

    def set_restore_delay(self, seconds: float) -> None:
        """How long a RestoreObject takes before an Archive object can be read (default 0)."""
        self._running.set_restore_delay(seconds)

    # -- faults and statistics -------------------------------------------------------

    def add_fault(self, rule: FaultRule) -> int:
        """Activate ``rule``; returns its id (for :meth:`remove_fault`)."""
        return self._running.add_fault(rule)

    def remove_fault(self, rule_id: int) -> None:
        self._running.remove_fault(rule_id)

    def clear_faults(self) -> None:
        self._running.clear_faults()

    def active_faults(self) -> dict[int, FaultRule]:
        """The rules still active, by id (a rule whose ``times`` ran out is gone)."""
        return self._running.active_faults()

    def simulate_wan(
        self,
        bytes_per_second: int = 16 * 1024 * 1024,
        latency: float = 0.03,
        bucket: str = "*",
        key: str = "*",
    ) -> list[int]:
        """Cap every GET body to ``bytes_per_second`` per connection and delay every
        answer by ``latency`` seconds, until :meth:`clear_faults`. Returns the rule ids."""
        rules = [
            FaultRule(
                FaultKind.BANDWIDTH,
                bucket=bucket,
                key=key,
                times=None,
                bytes_per_second=bytes_per_second,
            ),
            FaultRule(
                FaultKind.LATENCY, method=None, bucket=bucket, key=key, times=None, seconds=latency
            ),
        ]
        return [self.add_fault(rule) for rule in rules]

    def throttle_beyond(
        self, n: int, delay: float = 0.05, bucket: str = "*", key: str = "*"
    ) -> int:
        """Let at most ``n`` GetObjects on ``bucket``/``key`` (globs) be in flight at
        once: further ones are answered 503 ServiceUnavailable with
        ``x-oss-qos-delay-time`` (``delay`` seconds, as milliseconds), as a service
        throttling a client that opens too many connections does. A refused GET
        does not count as in flight and fires no other rule; ``stats().throttled``
        counts them. Until :meth:`clear_faults`; returns the rule id."""
        rule = FaultRule(
            FaultKind.THROTTLE, bucket=bucket, key=key, times=None, seconds=delay, max_in_flight=n
        )
        return self.add_fault(rule)

    def stats(self) -> StatsSnapshot:
        return self._running.stats()

    def reset_stats(self) -> None:
        self._running.reset_stats()
