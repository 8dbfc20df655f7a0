"""The state one emulated service shares between its handlers."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDictProxy, MultiDictProxy

from oss_resumable_fs.testing.auth import Credential
from oss_resumable_fs.testing.faults import FaultPlan
from oss_resumable_fs.testing.stats import StatsCollector
from oss_resumable_fs.testing.storage import Storage

DEFAULT_ACCESS_KEY_ID = "ossr-test-key-id"
DEFAULT_ACCESS_KEY_SECRET = "ossr-test-key-secret"
DEFAULT_REGION = "cn-hangzhou"


class ServerState:
    """Storage, credentials, fault plan and statistics of one server."""

    def __init__(
        self,
        storage: Storage,
        *,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        region: str = DEFAULT_REGION,
        seed: int = 0,
        require_auth: bool = True,
    ) -> None:
        self.storage = storage
        self.region = region
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        #: Only for the emulator's own unit tests: every request counts as the owner's.
        self.require_auth = require_auth
        self.faults = FaultPlan(seed)
        self.stats = StatsCollector()
        self._lock = threading.Lock()
        self._credentials = {access_key_id: Credential(access_key_id, access_key_secret)}
        self._restore_delay = 0.0
        self._content_rng = random.Random(seed)
        self.host_id = f"ossr-{secrets.token_hex(4)}.localhost"
        #: How many client connections are open; set by the runner once it exists.
        self.open_connections: Callable[[], int] = lambda: 0

    @property
    def credentials(self) -> dict[str, Credential]:
        with self._lock:
            return dict(self._credentials)

    def add_credential(self, credential: Credential) -> None:
        with self._lock:
            self._credentials[credential.access_key_id] = credential

    @property
    def restore_delay(self) -> float:
        return self._restore_delay

    def set_restore_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the restore delay must not be negative")
        self._restore_delay = float(seconds)

    def replacement_chunks(self, size: int, chunk_size: int = 4 * 1024 * 1024) -> Iterator[bytes]:
        """Seeded bytes for a ``replace`` fault (deterministic under the server seed)."""
        for offset in range(0, size, chunk_size):
            with self._lock:
                yield self._content_rng.randbytes(min(chunk_size, size - offset))

    def reseed(self, seed: int) -> None:
        self.faults.reseed(seed)
        with self._lock:
            self._content_rng = random.Random(seed)


@dataclass
class Call:
    """One request, as the handlers see it."""

    request: web.Request
    state: ServerState
    operation: str
    bucket: str
    key: str
    request_id: str
    credential: Credential | None = None
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.request.query

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.request.headers


# web.RequestKey exists from aiohttp 3.12 on; plain strings work (with a warning) before.
_RequestKey = getattr(web, "RequestKey", None)
#: Where a request keeps its :class:`Call` (read when the response is prepared).
CALL_KEY = _RequestKey("ossr_call", Call) if _RequestKey else "ossr_call"
