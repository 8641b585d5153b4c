"""The API errors of the control plane, each one a Kubernetes `Status` a client understands.

kubectl and the `kubernetes` client decide what to do from a Status body's `code` and `reason`
(retry on Conflict, relist on Expired, "not found" messages), so every failure the API server
answers is one of these classes; nothing here imports a web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from modelplane.core import errors as core_errors


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid: Kubernetes' StatusCause."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"


class ApiError(core_errors.ModelplaneError):
    """An error with a Kubernetes StatusReason and an HTTP status code."""

    status_code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[Cause] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes or [])

    def to_status(self) -> dict[str, Any]:
        """The error as a `Status` body (apiVersion v1), as the Kubernetes API server writes it."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.status_code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in self.causes
            ]
        if details:
            status["details"] = details
        return status


class BadRequest(ApiError):
    status_code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    status_code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    status_code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    status_code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    status_code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(ApiError):
    status_code = 406
    reason = "NotAcceptable"


class AlreadyExists(ApiError):
    status_code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    status_code = 409
    reason = "Conflict"


class Expired(ApiError):
    status_code = 410
    reason = "Expired"


class UnsupportedMediaType(ApiError):
    status_code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    status_code = 422
    reason = "Invalid"


class InternalError(ApiError):
    status_code = 500
    reason = "InternalError"


def not_found(resource: str, name: str, group: str = "") -> NotFound:
    """Kubernetes' wording: `inferenceservices.serving.kserve.io "x" not found`."""
    qualified = f"{resource}.{group}" if group else resource
    return NotFound(f'{qualified} "{name}" not found', kind=resource, name=name, group=group)
