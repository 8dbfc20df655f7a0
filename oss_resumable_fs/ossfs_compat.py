"""The only place that leans on ossfs's internals, for the write paths we keep from it.

``put``, ``pipe``, ``rm``, ``touch``, ``cp`` and writable files stay ossfs's.
Inside ossfs they reach OSS through two private methods, ``_get_bucket`` and
``_call_oss``; routing those two through our :class:`OSSClient` gives writes
the same credentials (providers, V4 regions), endpoint and error
translation as everything else. ``tests/unit/test_ossfs_compat.py`` fails
when ossfs renames either hook, changes their parameters, or stops calling
them from the write paths; ``pyproject.toml`` bounds ossfs to the releases
checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oss_resumable_fs.sources.client import OSSClient

#: The ossfs hooks overridden here, with the parameters ossfs calls them with.
OSSFS_HOOKS: dict[str, tuple[str, ...]] = {
    "_get_bucket": ("self", "bucket_name", "connect_timeout"),
    "_call_oss": ("self", "method_name", "args", "bucket", "timeout", "retry", "kwargs"),
}
#: ossfs methods we inherit that reach OSS through those hooks.
OSSFS_WRITE_PATHS = ("pipe_file", "put_file", "_rm", "_bulk_delete", "append_object", "cp_file")
#: Of those, the ones that also hand our bucket to oss2's own helpers
#: (``resumable_upload``, ``copy_object``): wrapped so their errors are translated too.
OSSFS_WRAPPED = ("put_file", "cp_file")


class OssfsWriteHooks:
    """Mixed in before ``ossfs.OSSFileSystem``: its hooks answered by our client."""

    client: OSSClient
    _strip_protocol: Any

    def _get_bucket(self, bucket_name: str, connect_timeout: Any = None) -> Any:
        return self.client.bucket(bucket_name)

    def _call_oss(
        self,
        method_name: str,
        *args: Any,
        bucket: str | None = None,
        timeout: Any = None,
        retry: int = 3,
        **kwargs: Any,
    ) -> Any:
        return self.client.call_sdk(bucket, method_name, *args, **kwargs)

    def put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = None,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> Any:
        # ossfs passes files of 100 MiB and more to oss2.resumable_upload with our
        # bucket: its errors (which echo the STS token) bypass _call_oss.
        if mode != "overwrite":
            raise NotImplementedError(f"put_file(mode={mode!r}): ossfs only overwrites")
        with self.client.translating(f"oss://{self._strip_protocol(rpath)}"):
            return super().put_file(lpath, rpath, callback=callback, **kwargs)  # type: ignore[misc]

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> Any:
        with self.client.translating(f"oss://{self._strip_protocol(path2)}"):
            return super().cp_file(path1, path2, **kwargs)  # type: ignore[misc]
