"""One write per answer: a response's head waits (one loop turn at most) for its body.

The first tests drive `_OneWrite` over a recording transport, so the number of writes is what
they assert. The last ones run uvicorn with `OneWriteProtocol` on a real socket: a whole answer
arrives whole, and a stream's head reaches the client while its body is still being made.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from modelplane.server.one_write import OneWriteProtocol, _OneWrite

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def _one_write() -> tuple[Recorder, _OneWrite]:
    recorder = Recorder()
    return recorder, _OneWrite(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]


def test_head_and_body_leave_in_one_write() -> None:
    async def main() -> list[bytes]:
        recorder, transport = await _one_write()
        transport.write(HEAD)
        assert recorder.writes == []
        transport.write(b"{}")
        await asyncio.sleep(0)  # the flush scheduled for the head finds nothing left
        return recorder.writes

    assert asyncio.run(main()) == [HEAD + b"{}"]


def test_a_head_alone_leaves_on_the_next_loop_turn() -> None:
    async def main() -> list[list[bytes]]:
        recorder, transport = await _one_write()
        transport.write(HEAD)
        before = list(recorder.writes)
        await asyncio.sleep(0)
        after_turn = list(recorder.writes)
        transport.write(b"chunk")  # a stream's later chunk goes at once
        return [before, after_turn, recorder.writes]

    before, after_turn, last = asyncio.run(main())
    assert before == []
    assert after_turn == [HEAD]
    assert last == [HEAD, b"chunk"]


def test_order_is_kept_for_100_continue_then_the_answer() -> None:
    async def main() -> list[bytes]:
        recorder, transport = await _one_write()
        transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        transport.write(HEAD)
        transport.write(b"{}")
        await asyncio.sleep(0)
        return recorder.writes

    assert b"".join(asyncio.run(main())) == b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"{}"


def test_close_sends_a_held_head_first_and_abort_drops_it() -> None:
    async def main() -> tuple[Recorder, Recorder]:
        closing, transport = await _one_write()
        transport.write(HEAD)
        transport.close()
        aborting, other = await _one_write()
        other.write(HEAD)
        other.abort()
        await asyncio.sleep(0)
        return closing, aborting

    closing, aborting = asyncio.run(main())
    assert closing.writes == [HEAD] and closing.closed
    assert aborting.writes == [] and aborting.aborted


def test_everything_else_is_the_transports() -> None:
    async def main() -> Any:
        _, transport = await _one_write()
        return transport.get_extra_info("peername")

    assert asyncio.run(main()) == "info:peername"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/whole":
        headers = [(b"content-length", b"12")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"whole answer"})
        return
    # A stream: the head goes out, the body waits until the client says it saw the head.
    await send({"type": "http.response.start", "status": 200, "headers": []})
    seen: asyncio.Event = scope["state"]["seen"]
    await seen.wait()
    await send({"type": "http.response.body", "body": b"late", "more_body": False})


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data!r}"
        data += chunk
    return data


def test_uvicorn_answers_whole_and_streams_with_the_protocol() -> None:
    async def main() -> tuple[bytes, bytes, bytes]:
        seen = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope["state"] = {"seen": seen}
            await _app(scope, receive, send)

        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_config=None,
            http=OneWriteProtocol,
        )  # fmt: skip
        server = uvicorn.Server(config)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        serving = asyncio.create_task(server.serve([listener]))
        while not server.started:
            await asyncio.sleep(0.01)  # readiness: uvicorn's own flag
        port = listener.getsockname()[1]
        loop = asyncio.get_running_loop()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /whole HTTP/1.1\r\nhost: x\r\n\r\n")
            whole = await loop.run_in_executor(None, _read_until, sock, b"whole answer")
            sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await loop.run_in_executor(None, _read_until, sock, b"\r\n\r\n")
            seen.set()
            rest = await loop.run_in_executor(None, _read_until, sock, b"late")
        server.should_exit = True
        await serving
        return whole, head, rest

    whole, head, rest = asyncio.run(main())
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n") and whole.endswith(b"\r\n\r\nwhole answer")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"late" not in head
    assert b"late" in rest
