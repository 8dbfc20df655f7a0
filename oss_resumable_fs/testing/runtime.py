"""Starting and stopping the aiohttp server on an asyncio loop."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from oss_resumable_fs.testing.app import build_app
from oss_resumable_fs.testing.state import ServerState

#: How long stopping waits for requests still being answered (e.g. a stalled body).
SHUTDOWN_TIMEOUT = 1.0


@dataclass
class Running:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(state: ServerState, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``state`` on ``host:port`` (``0``: a free port) on the running loop."""
    runner = web.AppRunner(
        build_app(state),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = runner.server
    if server is not None:
        state.open_connections = lambda: len(server.connections)
    bound = runner.addresses[0]
    return Running(runner, host, int(bound[1]))
