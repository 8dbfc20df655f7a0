"""Contenders that speak OSS's own API, and the machine's bounds: one runner each.

``ours``        ``ResumableOSSFileSystem(...).get_file`` at its defaults (adaptive
                concurrency, journal, fsync, atomic rename, CRC-64 verified).
``oss2``        ``oss2.resumable_download(bucket, key, path)``, checkpoint store in the
                scratch dir. Defaults: one GET below 100 MiB, else 10 MiB parts on 4
                threads, a pool of 10 connections.
``ossfs``       ``ossfs.OSSFileSystem(...).get_file`` (isdir and size look-ups, then
                the above with its checkpoint store under ``$HOME``).
``v2``          alibabacloud-oss-v2 ``client.downloader().download_file(...)``: 6 MiB
                parts, 3 in parallel, path-style, V4 signatures.
``curl``        ``curl -s -S -f -o PATH URL`` (public-read bucket): one connection,
                no signing, no fsync. ``curl+fsync``: then ``os.fsync``.
``copy``        the same bytes from a local file in the page cache, 8 MiB blocks; no
                network. ``copy+fsync``: then ``os.fsync`` (the machine's limit for
                landing the object durably).

``matched`` variants (``NAME matched``) get what ours used in the same scenario
(:class:`harness.Matched`): its part size, and as many threads *and* pooled
connections as ours' connections; below that part size nothing is split (ours
splits from 8 MiB on: oss2's ``multiget_threshold`` is set to it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import oss2
from _common import MiB
from harness import BUCKET, Matched, Runner, Target
from ossfs.base import SIMPLE_TRANSFER_THRESHOLD

from oss_resumable_fs import ResumableOSSFileSystem

#: Ours splits objects from this size on (``TransferConfig.single_request_threshold``).
OURS_SPLIT_FROM = 8 * MiB


def ours_fs(target: Target, **options: Any) -> ResumableOSSFileSystem:
    server = target.server
    return ResumableOSSFileSystem(
        endpoint=server.endpoint,
        key=server.access_key_id,
        secret=server.access_key_secret,
        skip_instance_cache=True,
        **options,
    )


def ours_runner(target: Target, matched: Matched | None = None) -> Runner:
    """Ours at its defaults; with ``matched``, fixed at those settings (``ours matched``:
    what the engine does at the peers' matched settings, the tuner left out)."""
    fs = ours_fs(target)
    options: dict[str, Any] = {}
    if matched is not None:
        options = {"concurrency": matched.connections, "part_size": matched.part_size}

    def ours(dest: str) -> dict[str, Any]:
        result = fs.get_file(target.rpath, dest, **options)
        assert result is not None
        return {
            "engine_elapsed": round(result.elapsed, 4),
            "bytes_fetched": result.bytes_fetched,
            "bytes_reused": result.bytes_reused,
            "parts": result.parts_total,
            "connections": result.connections,
            "retries": result.retries,
        }

    return ours


def oss2_runner(target: Target, scratch: Path, matched: Matched | None) -> Runner:
    server = target.server
    pool = matched.connections if matched else None
    bucket = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret),
        server.endpoint,
        BUCKET,
        session=oss2.Session(pool_size=pool),
    )
    store_root = scratch / ("oss2-store-matched" if matched else "oss2-store")
    store_root.mkdir(exist_ok=True)
    store = oss2.ResumableDownloadStore(root=str(store_root))
    options = oss2_matched_options(matched)

    def run(dest: str) -> None:
        oss2.resumable_download(bucket, target.key, dest, store=store, **options)

    return run


def oss2_matched_options(matched: Matched | None) -> dict[str, Any]:
    if matched is None:
        return {}
    return {
        "part_size": matched.part_size,
        "num_threads": matched.connections,
        "multiget_threshold": OURS_SPLIT_FROM,
    }


def ossfs_filesystem(target: Target) -> Any:
    import ossfs

    server = target.server
    return ossfs.OSSFileSystem(
        endpoint=server.endpoint,
        key=server.access_key_id,
        secret=server.access_key_secret,
        skip_instance_cache=True,
    )


def ossfs_runner(target: Target, matched: Matched | None) -> Runner:
    fs = ossfs_filesystem(target)
    if matched:
        # ossfs builds its oss2 Session (pool of 10) in its constructor and has no option
        # for its size: without this, threads beyond 10 reconnect for every part.
        fs._session = oss2.Session(pool_size=matched.connections)
    options = oss2_matched_options(matched)
    facts: dict[str, Any] = {}
    if matched and target.size < SIMPLE_TRANSFER_THRESHOLD:
        # ossfs passes its options to oss2.resumable_download only from this size on;
        # below, it makes one plain GET that takes none of them.
        options = {}
        facts["note"] = (
            f"ossfs makes one plain GET below {SIMPLE_TRANSFER_THRESHOLD // MiB} MiB: "
            "nothing to match"
        )

    def run(dest: str) -> dict[str, Any]:
        fs.invalidate_cache()
        fs.get_file(target.rpath, dest, **options)
        return facts

    return run


def v2_client(target: Target, max_connections: int | None = None) -> Any:
    import alibabacloud_oss_v2 as v2

    server = target.server
    cfg = v2.config.load_default()
    cfg.credentials_provider = v2.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region = server.region
    cfg.endpoint = server.endpoint
    cfg.use_path_style = True
    if max_connections:
        cfg.http_client = v2.transport.RequestsHttpClient(max_connections=max_connections)
    return v2.Client(cfg)


def v2_runner(
    target: Target, matched: Matched | None, *, checkpoint_dir: Path | None = None
) -> Runner:
    """The v2 Downloader; with ``checkpoint_dir``, its checkpoint option turned on there."""
    import alibabacloud_oss_v2 as v2

    client = v2_client(target, matched.connections if matched else None)
    options: dict[str, Any] = {}
    if matched:
        options = {"part_size": matched.part_size, "parallel_num": matched.connections}
    if checkpoint_dir:
        options.update(enable_checkpoint=True, checkpoint_dir=str(checkpoint_dir))
    downloader = client.downloader(**options)

    def run(dest: str) -> dict[str, Any]:
        request = v2.GetObjectRequest(bucket=BUCKET, key=target.key)
        result = downloader.download_file(request, filepath=dest)
        return {"written": getattr(result, "written", None)}

    return run


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def curl_runner(target: Target, *, fsync: bool) -> Runner:
    curl = shutil.which("curl")

    def run(dest: str) -> None:
        if curl is None:
            raise RuntimeError("curl is not on PATH")
        done = subprocess.run(
            [curl, "-s", "-S", "-f", "-o", dest, target.url],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"curl exit {done.returncode}: {done.stderr.strip()}")
        if fsync:
            fsync_path(dest)

    return run


def copy_runner(target: Target, *, fsync: bool) -> Runner:
    def run(dest: str) -> None:
        block = bytearray(8 * MiB)
        with open(target.local_copy, "rb", buffering=0) as source, open(dest, "wb") as out:
            while count := source.readinto(block):
                out.write(memoryview(block)[:count])
            out.flush()
            if fsync:
                os.fsync(out.fileno())

    return run


DEFAULTS = ("ours", "oss2", "ossfs", "v2")
MATCHABLE = ("oss2", "ossfs", "v2")
BOUNDS = ("curl", "curl+fsync", "copy", "copy+fsync")


def build(name: str, target: Target, scratch: Path, matched: Matched | None = None) -> Runner:
    """The runner called ``name`` (one of :data:`DEFAULTS` or :data:`BOUNDS`)."""
    if name == "ours":
        return ours_runner(target, matched)
    if name == "oss2":
        return oss2_runner(target, scratch, matched)
    if name == "ossfs":
        return ossfs_runner(target, matched)
    if name == "v2":
        return v2_runner(target, matched)
    if name in ("curl", "curl+fsync"):
        return curl_runner(target, fsync=name.endswith("fsync"))
    if name in ("copy", "copy+fsync"):
        return copy_runner(target, fsync=name.endswith("fsync"))
    raise KeyError(name)
