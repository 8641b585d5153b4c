"""One table from the error tree to an HTTP status and a gRPC code, shared by every protocol.

The gRPC code is kept as its `grpc.StatusCode` member name so this module stays free of grpc;
the gRPC servicer resolves it. Bodies are `{"error": "..."}` on every REST route.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from modelplane.core import errors


class Status(NamedTuple):
    http: int
    grpc: str


# Most specific first: the first class in an exception's MRO that appears here wins.
TABLE: dict[type[BaseException], Status] = {
    errors.PayloadTooLarge: Status(413, "RESOURCE_EXHAUSTED"),
    errors.UnsupportedDatatype: Status(400, "INVALID_ARGUMENT"),
    errors.UnsupportedEncoding: Status(415, "INVALID_ARGUMENT"),
    errors.InvalidInput: Status(400, "INVALID_ARGUMENT"),
    errors.ModelNotFound: Status(404, "NOT_FOUND"),
    errors.ModelNotReady: Status(503, "UNAVAILABLE"),
    errors.ServerUnavailable: Status(503, "UNAVAILABLE"),
    errors.NotSupported: Status(501, "UNIMPLEMENTED"),
    errors.StorageNotFound: Status(404, "NOT_FOUND"),
    errors.ModelLoadError: Status(400, "FAILED_PRECONDITION"),
    errors.InferenceError: Status(500, "INTERNAL"),
    errors.ModelplaneError: Status(500, "INTERNAL"),
}

UNEXPECTED = Status(500, "INTERNAL")


def status_of(exc: BaseException) -> Status:
    """The status for an exception; anything outside the tree is an internal error."""
    for cls in type(exc).__mro__:
        status = TABLE.get(cls)
        if status is not None:
            return status
    return UNEXPECTED


def message_of(exc: BaseException) -> str:
    """What the client is told: our own messages verbatim, a generic line for the unexpected."""
    if isinstance(exc, errors.ModelplaneError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
