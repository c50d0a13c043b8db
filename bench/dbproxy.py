"""A tiny TCP proxy that adds latency to every database round trip (the simulator has no such knob).

Each chunk the client sends is held for `delay_s` before it goes to PostgreSQL, in order; answers pass straight
back. A protocol exchange (SSLRequest, startup, each SCRAM step, a query) is one client chunk, so each costs one
`delay_s`, as a round trip to a remote database would. The proxy counts the chunks (`round_trips`).
"""

import asyncio
import contextlib
import threading
from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0


class DelayProxy:
    """127.0.0.1:`port` -> `upstream`, each client chunk delayed by `delay_s`; runs its own loop in a thread."""

    def __init__(self, upstream_host: str, upstream_port: int, delay_s: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_s
        self.port = 0
        self.round_trips = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> "DelayProxy":
        self._thread = threading.Thread(target=self._run, name="bench-dbproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the database proxy did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._client, HOST, 0))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as error:  # reported by start()
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), START_TIMEOUT_S)
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, self.delay_s, counted=True),
            self._pipe(up_reader, writer, 0.0, counted=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float, counted: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if counted:
                    self.round_trips += 1
                if delay_s:
                    await asyncio.sleep(delay_s)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
