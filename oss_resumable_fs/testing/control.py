"""The control endpoint: the server's test-side API over HTTP, as JSON.

Every route sits under ``/_ossr/`` (no OSS bucket name can start with ``_``)
and, except ``GET /_ossr/health``, needs the header ``X-OSSR-Control-Secret``
set to the server's access key secret.

=======  =================================  ==========================================
Method   Path                               Body / answer
=======  =================================  ==========================================
GET      /_ossr/health                      ``{"ok": true}``
POST     /_ossr/buckets                     ``{"name", "acl"}``
POST     /_ossr/objects                     ``{"bucket", "key", "path", "storage_class"}``
PUT      /_ossr/objects/{bucket}/{key}      raw bytes; ``?storage_class=``
POST     /_ossr/credentials                 ``{"access_key_id", "access_key_secret",
                                            "security_token"}``
GET      /_ossr/faults                      ``{"rules": {id: rule}}``
POST     /_ossr/faults                      a :class:`FaultRule` as a dict -> ``{"id"}``
DELETE   /_ossr/faults                      clear all rules
DELETE   /_ossr/faults/{id}                 remove one rule
GET      /_ossr/stats                       a :class:`StatsSnapshot` as a dict
DELETE   /_ossr/stats                       reset the statistics
PUT      /_ossr/restore-delay               ``{"seconds"}``
=======  =================================  ==========================================
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from oss_resumable_fs.testing.auth import Credential
from oss_resumable_fs.testing.faults import FaultRule
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.state import ServerState

PREFIX = "/_ossr"
SECRET_HEADER = "X-OSSR-Control-Secret"
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)


def _guarded(state: ServerState, route: Route) -> Route:
    """Check the control secret, and answer bad input as JSON errors."""

    async def handler(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), state.access_key_secret.encode()):
            return _json({"error": f"missing or wrong {SECRET_HEADER}"}, status=403)
        try:
            return await route(request)
        except OSSError as err:
            return _json({"error": err.message, "code": err.code}, status=err.status)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
            return _json({"error": f"bad request: {err!r}"}, status=400)

    return handler


def add_routes(app: web.Application, state: ServerState) -> None:
    storage = state.storage

    async def health(request: web.Request) -> web.StreamResponse:
        return _json({"ok": True})

    async def create_bucket(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        storage.create_bucket(body["name"], acl=body.get("acl", "private"))
        return _json({"ok": True})

    async def put_object_from_path(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        meta = await asyncio.to_thread(
            storage.put_file,
            body["bucket"],
            body["key"],
            body["path"],
            storage_class=body.get("storage_class", "Standard"),
        )
        return _json({"etag": meta.etag, "size": meta.size, "crc64": meta.crc64})

    async def put_object_bytes(request: web.Request) -> web.StreamResponse:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        pending = storage.begin_write(bucket)
        async for chunk in request.content.iter_chunked(1024 * 1024):
            pending.write(chunk)
        meta = storage.commit(
            bucket, key, pending, storage_class=request.query.get("storage_class", "Standard")
        )
        return _json({"etag": meta.etag, "size": meta.size, "crc64": meta.crc64})

    async def add_credential(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.add_credential(
            Credential(body["access_key_id"], body["access_key_secret"], body.get("security_token"))
        )
        return _json({"ok": True})

    async def list_faults(request: web.Request) -> web.StreamResponse:
        rules = {str(i): rule.to_dict() for i, rule in state.faults.rules().items()}
        return _json({"rules": rules})

    async def add_fault(request: web.Request) -> web.StreamResponse:
        rule = FaultRule.from_dict(await request.json())
        return _json({"id": state.faults.add(rule)})

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        state.faults.clear()
        return _json({"ok": True})

    async def remove_fault(request: web.Request) -> web.StreamResponse:
        state.faults.remove(int(request.match_info["rule_id"]))
        return _json({"ok": True})

    async def get_stats(request: web.Request) -> web.StreamResponse:
        return _json(state.stats.snapshot().to_dict())

    async def reset_stats(request: web.Request) -> web.StreamResponse:
        state.stats.reset()
        return _json({"ok": True})

    async def set_restore_delay(request: web.Request) -> web.StreamResponse:
        state.set_restore_delay(float((await request.json())["seconds"]))
        return _json({"ok": True})

    app.router.add_get(f"{PREFIX}/health", health)
    routes: list[tuple[str, str, Route]] = [
        ("POST", "/buckets", create_bucket),
        ("POST", "/objects", put_object_from_path),
        ("PUT", "/objects/{bucket}/{key:.+}", put_object_bytes),
        ("POST", "/credentials", add_credential),
        ("GET", "/faults", list_faults),
        ("POST", "/faults", add_fault),
        ("DELETE", "/faults", clear_faults),
        ("DELETE", "/faults/{rule_id:\\d+}", remove_fault),
        ("GET", "/stats", get_stats),
        ("DELETE", "/stats", reset_stats),
        ("PUT", "/restore-delay", set_restore_delay),
    ]
    for method, path, route in routes:
        app.router.add_route(method, PREFIX + path, _guarded(state, route))
