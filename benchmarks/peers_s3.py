"""Contenders that speak the S3 API (the local server answers it as OSS does): one runner each.

Every client is given the local server's endpoint and keys explicitly (path-style
addressing, plain HTTP, region ``oss-cn-hangzhou``); :func:`harness.isolate_from_real_clouds`
has removed anything else they could read.

``s3fs``        ``s3fs.S3FileSystem(...).get_file``. Defaults: 50 MiB chunks, 10 at a
                time (in batches: a batch waits for its slowest part), a pool of 10.
``obstore``     ``obstore.get(store, key)`` streamed to the file (object_store has no
                parallel download to a file: one GET, one connection).
``boto3``       ``client.download_file`` with s3transfer's classic manager: 8 MiB
                parts, 10 threads, a pool of 10.
``crt``         s3transfer's ``CRTTransferManager`` on ``create_s3_crt_client`` (the
                AWS Common Runtime): 8 MiB parts, connections sized from a target
                throughput (10 Gbit/s when it cannot tell the NIC's: 25 connections).

``matched`` variants get ours' part size and connection count: s3fs ``chunksize`` /
``max_concurrency`` and a pool that large; obstore as a user would write a parallel
download (``get_range_async`` per part, that many at once, ``os.pwrite``); boto3
``multipart_chunksize`` / ``max_concurrency`` and the pool; the CRT ``part_size`` and
the ``target_throughput`` its formula turns into that many connections
(0.4 Gbit/s per connection, at least 10).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from harness import BUCKET, S3_REGION, Matched, Runner, Target

from oss_resumable_fs.testing import OSSServer

#: aws-c-s3's connections per Gbit/s of target throughput (``s_throughput_per_connection_gbps``).
CRT_GBPS_PER_CONNECTION = 100.0 / 250


def s3fs_filesystem(target: Target, matched: Matched | None = None) -> Any:
    import s3fs

    server = target.server
    options: dict[str, Any] = {}
    if matched:
        options = {
            "max_concurrency": matched.connections,
            "config_kwargs": {"max_pool_connections": matched.connections},
        }
    return s3fs.S3FileSystem(
        key=server.access_key_id,
        secret=server.access_key_secret,
        endpoint_url=server.endpoint,
        client_kwargs={"region_name": S3_REGION},
        skip_instance_cache=True,
        **options,
    )


def s3fs_runner(target: Target, matched: Matched | None) -> Runner:
    fs = s3fs_filesystem(target, matched)
    options = {"chunksize": matched.part_size} if matched else {}

    def run(dest: str) -> None:
        fs.invalidate_cache()
        fs.get_file(target.rpath, dest, **options)

    return run


def obstore_store(server: OSSServer) -> Any:
    from obstore.store import S3Store

    return S3Store(
        BUCKET,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=server.access_key_secret,
        region=S3_REGION,
        client_options={"allow_http": True},
    )


def obstore_runner(target: Target, matched: Matched | None) -> Runner:
    import obstore

    store = obstore_store(target.server)

    def streamed(dest: str) -> None:
        result = obstore.get(store, target.key)
        with open(dest, "wb") as out:
            for chunk in result.stream():
                out.write(chunk)

    if matched is None:
        return streamed

    async def parallel(dest: str) -> None:
        size = (await obstore.head_async(store, target.key))["size"]
        gate = asyncio.Semaphore(matched.connections)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

        async def part(start: int) -> None:
            async with gate:
                end = min(start + matched.part_size, size)
                data = await obstore.get_range_async(store, target.key, start=start, end=end)
            os.pwrite(fd, memoryview(data), start)

        try:
            await asyncio.gather(*(part(s) for s in range(0, size, matched.part_size)))
        finally:
            os.close(fd)

    return lambda dest: asyncio.run(parallel(dest))


def boto3_client(target: Target, pool: int | None = None) -> Any:
    import boto3
    from botocore.config import Config

    server = target.server
    options: dict[str, Any] = {"s3": {"addressing_style": "path"}}
    if pool:
        options["max_pool_connections"] = pool
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.access_key_secret,
        region_name=S3_REGION,
        config=Config(**options),
    )


def boto3_transfer_config(matched: Matched | None) -> Any:
    from boto3.s3.transfer import TransferConfig

    # "auto" would pick the CRT on a few EC2 instance types only; say which one runs.
    options: dict[str, Any] = {"preferred_transfer_client": "classic"}
    if matched:
        options.update(multipart_chunksize=matched.part_size, max_concurrency=matched.connections)
    return TransferConfig(**options)


def boto3_runner(target: Target, matched: Matched | None) -> Runner:
    client = boto3_client(target, matched.connections if matched else None)
    config = boto3_transfer_config(matched)

    def run(dest: str) -> None:
        client.download_file(BUCKET, target.key, dest, Config=config)

    return run


def crt_target_throughput(connections: int) -> int:
    """Bytes per second that aws-c-s3 turns into ``connections`` connections."""
    return int(connections * CRT_GBPS_PER_CONNECTION * 1e9 / 8)


def crt_manager_factory(target: Target, matched: Matched | None) -> Any:
    """A callable giving a fresh ``CRTTransferManager`` on one CRT client (built once)."""
    import botocore.config
    import botocore.session
    from botocore.credentials import Credentials
    from s3transfer.crt import (
        BotocoreCRTCredentialsWrapper,
        BotocoreCRTRequestSerializer,
        CRTTransferManager,
        create_s3_crt_client,
    )

    server = target.server
    credentials = Credentials(server.access_key_id, server.access_key_secret)
    provider = BotocoreCRTCredentialsWrapper(credentials).to_crt_credentials_provider()
    options: dict[str, Any] = {}
    if matched:
        options = {
            "part_size": matched.part_size,
            "target_throughput": crt_target_throughput(matched.connections),
        }
    client = create_s3_crt_client(S3_REGION, provider, use_ssl=False, **options)
    serializer = BotocoreCRTRequestSerializer(
        botocore.session.Session(),
        {
            "region_name": S3_REGION,
            "endpoint_url": server.endpoint,
            "config": botocore.config.Config(s3={"addressing_style": "path"}),
        },
    )
    return lambda: CRTTransferManager(client, serializer)


def crt_runner(target: Target, matched: Matched | None) -> Runner:
    manager = crt_manager_factory(target, matched)

    def run(dest: str) -> None:
        # A CRT future's result() can return before its temporary file is renamed into
        # place; leaving the manager waits for that (and is timed).
        with manager() as transfers:
            transfers.download(BUCKET, target.key, dest).result()

    return run


PEERS = ("s3fs", "obstore", "boto3", "crt")


def build(name: str, target: Target, matched: Matched | None = None) -> Runner:
    """The runner called ``name`` (one of :data:`PEERS`)."""
    builders = {
        "s3fs": s3fs_runner,
        "obstore": obstore_runner,
        "boto3": boto3_runner,
        "crt": crt_runner,
    }
    return builders[name](target, matched)
