"""``LazyCredentialsProvider``: an oss2 credentials provider that pickles, for dask workers."""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["LazyCredentialsProvider"]


class LazyCredentialsProvider:
    """Builds the real credentials provider in each process, on first use.

    oss2's refreshing providers (``EcsRamRoleCredentialsProvider``, STS
    wrappers) hold locks and sessions and cannot be pickled, so they cannot
    travel in ``storage_options`` to dask workers. This wrapper pickles only
    ``factory`` and its arguments (all must pickle: a class or a module-level
    function, and plain values); every worker then builds and refreshes its own::

        provider = LazyCredentialsProvider(
            oss2.credentials.EcsRamRoleCredentialsProvider,
            "http://100.100.100.200/latest/meta-data/ram/security-credentials/my-role",
        )
        get_many(..., storage_options={"endpoint": ..., "credentials_provider": provider})

    Its ``repr`` is stable and shows no argument values (they may hold
    secrets); fsspec builds its instance-cache token from it, so every task on
    a worker thread reuses one filesystem.
    """

    def __init__(self, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.factory = factory
        self.args = args
        self.kwargs = kwargs
        self._provider: Any = None
        self._lock = threading.Lock()

    def get_credentials(self) -> Any:
        with self._lock:
            if self._provider is None:
                self._provider = self.factory(*self.args, **self.kwargs)
            provider = self._provider
        return provider.get_credentials()

    def __getstate__(self) -> dict[str, Any]:
        return {"factory": self.factory, "args": self.args, "kwargs": self.kwargs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["factory"], *state["args"], **state["kwargs"])  # type: ignore[misc]

    def __repr__(self) -> str:
        name = getattr(self.factory, "__qualname__", type(self.factory).__name__)
        try:
            digest = hashlib.sha256(pickle.dumps(self.__getstate__())).hexdigest()[:16]
        except Exception:  # pickled by cloudpickle only (a lambda): unique to this object
            digest = f"object-{id(self):x}"
        return f"LazyCredentialsProvider({name}, state={digest})"
