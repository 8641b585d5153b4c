"""The error tree every room raises from.

One root, `ModelplaneError`, and a class per kind of failure a client can tell apart. The mapping
to HTTP statuses and gRPC codes lives in `modelplane.protocol.errors`, not here, so that raising
an error never pulls in a web framework.
"""

from __future__ import annotations


class ModelplaneError(Exception):
    """Root of every error modelplane raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(ModelplaneError):
    """The request is malformed or does not fit the model: the client must change it."""


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the server accepts."""


class UnsupportedDatatype(InvalidInput):
    """A tensor names a datatype outside the Open Inference Protocol's list."""


class ModelNotFound(ModelplaneError):
    """No model (or no such version of it) is in the repository."""

    def __init__(self, name: str, version: str | None = None) -> None:
        what = f"model '{name}'" if version is None else f"version '{version}' of model '{name}'"
        super().__init__(f"{what} is not in the repository; GET /v2/repository/index lists models")
        self.name = name
        self.version = version


class ModelUnloaded(ModelNotFound):
    """The model was unloaded through the repository API and not loaded again."""

    def __init__(self, name: str) -> None:
        ModelplaneError.__init__(
            self,
            f"model '{name}' is unloaded; load it with POST /v2/repository/models/{name}/load",
        )
        self.name = name
        self.version = None


class ContextLengthExceeded(InvalidInput):
    """A prompt (with the tokens asked for) does not fit the model's context window."""


class UnsupportedEncoding(InvalidInput):
    """The request body is compressed with an encoding the server does not read."""


class ModelNotReady(ModelplaneError):
    """The model exists but is not ready to serve yet (still loading, or failed to load)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"model '{name}' is not ready; poll /v2/models/{name}/ready")
        self.name = name


class ServerUnavailable(ModelplaneError):
    """The server cannot take the request now (shutting down); retry on another replica."""


class NotSupported(ModelplaneError):
    """The model or server does not implement this verb (for example `explain`)."""


class ModelLoadError(ModelplaneError):
    """A model could not be loaded: missing files, several candidate files, a bad class path."""


class StorageError(ModelLoadError):
    """A storage URI could not be fetched."""


class StorageNotFound(StorageError):
    """The storage URI points at nothing."""


class UnsafeArchive(StorageError):
    """An archive member would land outside the target directory."""


class InferenceError(ModelplaneError):
    """The model raised while serving a request that looked valid: a fault in the model."""


class PortUnavailable(ModelplaneError):
    """A server cannot listen where it was told to. `setting` names the settings field that chose
    the port (`http_port`), so each command can name its own option for it."""

    def __init__(self, setting: str, host: str, port: int, reason: str) -> None:
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(f"cannot listen on {self.address}: {reason}")
        self.setting = setting
        self.reason = reason
