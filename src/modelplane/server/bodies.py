"""Reading a request body off an ASGI `receive` channel: size limit and content encodings.

Shared by every REST route, raw-ASGI or Starlette, so a body is bounded and decoded one way.
"""

from __future__ import annotations

import zlib

from starlette.types import Receive

from modelplane.core import errors

# zlib window bits: gzip framing, and zlib-wrapped deflate (what HTTP clients send).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class ClientDisconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


def is_count(value: str) -> bool:
    # str.isdigit() alone admits characters such as '²' that int() refuses.
    return value.isascii() and value.isdigit()


def too_large(size: int, limit: int) -> str:
    return (
        f"the request body ({size} bytes) is larger than the {limit} bytes this server accepts; "
        "raise --max-request-size"
    )


async def read(
    receive: Receive, limit: int, content_length: str | None, content_encoding: str | None
) -> bytes:
    """The whole body, refused with 413 past `limit` bytes (before or after decompression)."""
    if content_length is not None and is_count(content_length) and int(content_length) > limit:
        raise errors.PayloadTooLarge(too_large(int(content_length), limit))
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(too_large(size, limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if content_encoding is not None:
        encoding = content_encoding.strip().lower()
        if encoding != "identity":
            body = _decompress(body, encoding, limit)
    return body


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise errors.UnsupportedEncoding(
            f"Content-Encoding '{encoding}' is not supported; send gzip, deflate or identity"
        )
    inflater = zlib.decompressobj(wbits)
    try:
        # Bounded, so a small compressed body cannot expand past the size limit.
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise errors.InvalidInput(f"the body is not valid {encoding} data: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise errors.PayloadTooLarge(too_large(len(data), limit) + " (after decompression)")
    return data
