"""A local OSS-protocol server with fault injection, for tests, benchmarks and demos.

Like ``moto`` for S3: the real ``oss2``, ``ossfs`` and ``alibabacloud-oss-v2``
clients talk to it over HTTP (path-style addressing, V1 / V4 signatures); and,
as on real OSS, S3 clients (boto3 / s3transfer, s3fs, obstore, the AWS CRT) do
too, through its S3-compatible API on the same endpoint (:mod:`.s3_api`).

>>> from oss_resumable_fs.testing import FaultRule, OSSServer
>>> with OSSServer() as server:                              # doctest: +SKIP
...     server.create_bucket("demo")
...     server.put_object("demo", "big.bin", "/path/to/file")
...     server.add_fault(FaultRule("reset", key="big.bin", after_bytes=1 << 20))

Run it standalone with ``python -m oss_resumable_fs.testing`` (prints the
endpoint URL, serves until SIGINT / SIGTERM). pytest fixtures come from
:mod:`oss_resumable_fs.testing.pytest_plugin`. For plain HTTP(S) sources (what
``download_url`` reads besides signed OSS URLs) there is a ranged static file
server with faults of its own: :class:`StaticHTTPServer` (:mod:`.static_http`).
"""

from oss_resumable_fs.testing.faults import FaultKind, FaultRule, FiredFault
from oss_resumable_fs.testing.server import ControlError, OSSServer
from oss_resumable_fs.testing.state import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_REGION,
)
from oss_resumable_fs.testing.static_http import ServedRequest, StaticHTTPServer
from oss_resumable_fs.testing.stats import RangedGet, StatsSnapshot

__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "DEFAULT_REGION",
    "ControlError",
    "FaultKind",
    "FaultRule",
    "FiredFault",
    "OSSServer",
    "RangedGet",
    "ServedRequest",
    "StaticHTTPServer",
    "StatsSnapshot",
]
