"""The one error type of the service layer.

Every refusal carries an ARM error code, the property path it is about (``target``) and a message a
person understands, so the pages can show it next to the field and the API can return it 1:1 in the
ARM error shape (``{"error": {"code", "message", "target", "details"}}``).
"""

from __future__ import annotations


class ServiceError(Exception):
    INVALID_PARAMETER = "InvalidParameter"
    PROPERTY_CHANGE_NOT_ALLOWED = "PropertyChangeNotAllowed"
    CONFLICT = "Conflict"
    QUOTA_EXCEEDED = "QuotaExceeded"
    NOT_FOUND = "ResourceNotFound"
    AUTHORIZATION_FAILED = "AuthorizationFailed"

    HTTP_STATUS = {
        INVALID_PARAMETER: 400,
        PROPERTY_CHANGE_NOT_ALLOWED: 409,
        CONFLICT: 409,
        QUOTA_EXCEEDED: 409,
        NOT_FOUND: 404,
        AUTHORIZATION_FAILED: 403,
        "SubscriptionNotFound": 404,
        "ResourceGroupNotFound": 404,
        "InvalidResourceType": 404,
        "InvalidResourceGroupLocation": 409,
        # Microsoft.Authorization (accounts.api)
        "RoleAssignmentExists": 409,
        "RoleAssignmentUpdateNotPermitted": 409,
        "RoleAssignmentNotFound": 404,
        "RoleDefinitionDoesNotExist": 404,
    }

    def __init__(self, code: str, message: str, target: str | None = None, details: list | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []

    @property
    def status(self) -> int:
        return self.HTTP_STATUS.get(self.code, 400)

    def as_arm(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "target": self.target,
                "details": [d.as_arm()["error"] if isinstance(d, ServiceError) else d for d in self.details],
            }
        }

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, target={self.target!r})"

    @classmethod
    def invalid(cls, target: str, message: str) -> ServiceError:
        return cls(cls.INVALID_PARAMETER, message, target)

    @classmethod
    def immutable(cls, target: str, message: str) -> ServiceError:
        return cls(cls.PROPERTY_CHANGE_NOT_ALLOWED, message, target)

    @classmethod
    def conflict(cls, message: str, target: str | None = None) -> ServiceError:
        return cls(cls.CONFLICT, message, target)

    @classmethod
    def forbidden(cls, message: str, target: str | None = None) -> ServiceError:
        return cls(cls.AUTHORIZATION_FAILED, message, target)

    @classmethod
    def not_found(cls, message: str, target: str | None = None) -> ServiceError:
        return cls(cls.NOT_FOUND, message, target)
