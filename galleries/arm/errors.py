"""ARM's ``InvalidTemplate`` refusal, carrying the JSON path and the expression it is about."""

from __future__ import annotations

from portal.core.errors import ServiceError

INVALID_TEMPLATE = "InvalidTemplate"


def invalid_template(message: str, path: str | None = None, expression: str | None = None) -> ServiceError:
    """ARM's wording: "Deployment template validation failed: '<what> is not valid: <why>'"; the path
    (``resources[0].name``) is the error's ``target``."""
    where = f"The template expression '{expression}' at '{path}' is not valid: " if expression else ""
    if not expression and path:
        where = f"The template value at '{path}' is not valid: "
    return ServiceError(
        INVALID_TEMPLATE,
        f"Deployment template validation failed: '{where}{message} "
        "Please see https://aka.ms/arm-functions for usage details.'",
        target=path,
    )


class ExpressionError(Exception):
    """A function's complaint, before the evaluator adds the path and the expression."""
