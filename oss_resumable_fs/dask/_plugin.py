"""``UseResumableForOSS``: plain ``oss://`` URLs resolve to ResumableOSSFileSystem on workers."""

from __future__ import annotations

import contextlib
from typing import Any

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:  # pragma: no cover - the "dask" extra is missing
    raise ImportError(
        "oss_resumable_fs.dask needs dask.distributed: pip install 'oss-resumable-fs[dask]'"
    ) from exc

__all__ = ["UseResumableForOSS"]


class UseResumableForOSS(WorkerPlugin):
    """A worker plugin that calls :func:`oss_resumable_fs.use_for_oss_urls` on every worker.

    ``client.register_plugin(UseResumableForOSS())`` switches the workers that
    are running and every worker that joins (or restarts) later. Code that
    resolves ``oss://`` *on a worker* (``fsspec.open``, ``pd.read_csv`` or
    ``fsspec.filesystem("oss", ...)`` inside a task) then gets
    ``ResumableOSSFileSystem``. The client process needs
    ``oss_resumable_fs.use_for_oss_urls()`` too: dask builds the filesystem
    of ``dd.read_csv("oss://...")`` there and ships it to the workers.

    ``client.unregister_worker_plugin(UseResumableForOSS.name)`` puts the
    previous ``oss`` implementation back on the workers.
    """

    name = "oss-resumable-fs-use-for-oss-urls"
    idempotent = True

    def __init__(self) -> None:
        self._previous: Any = None

    def setup(self, worker: Any) -> None:
        import fsspec

        from oss_resumable_fs import use_for_oss_urls

        self._previous = fsspec.registry.get("oss")
        use_for_oss_urls()

    def teardown(self, worker: Any) -> None:
        import fsspec

        if self._previous is not None:
            fsspec.register_implementation("oss", self._previous, clobber=True)
        else:
            # Nothing was imported for "oss" before: back to fsspec's lazy entry (ossfs).
            with contextlib.suppress(ImportError):
                from fsspec.registry import _registry

                _registry.pop("oss", None)
