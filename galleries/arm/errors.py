"""ARM's ``InvalidTemplate`` refusal, carrying the JSON path and the expression it is about.

ARM words it "Deployment template validation failed: 'The template resource 'x' at line '11' and
column '23' is not valid: The template function 'variables' is not expected at this location. Please
see https://aka.ms/arm-template-expressions for usage details.'" (as az prints it); the engine
tracks JSON paths, not lines, so it says "at 'resources[0].name'" and names the expression.
"""

from __future__ import annotations

from portal.core.errors import ServiceError

INVALID_TEMPLATE = "InvalidTemplate"
EXPRESSIONS_LINK = "https://aka.ms/arm-template-expressions"
PARAMETERS_LINK = "https://aka.ms/arm-syntax-parameters"
PARAMETER_FILE_LINK = "https://aka.ms/arm-create-parameter-file"


def invalid_template(
    message: str,
    path: str | None = None,
    expression: str | None = None,
    link: str = EXPRESSIONS_LINK,
    statement: bool = False,
) -> ServiceError:
    """``statement``: the message is already a whole sentence naming what is wrong (parameters)."""
    subject = expression or path
    if statement or not subject:
        body = message
    else:
        where = f" at '{path}'" if path else ""
        body = f"The template resource '{subject}'{where} is not valid: {message}"
    return ServiceError(
        INVALID_TEMPLATE,
        f"Deployment template validation failed: '{body} Please see {link} for usage details.'",
        target=path,
    )


class ExpressionError(Exception):
    """A function's complaint, before the evaluator adds the path and the expression."""
