"""Template parameters: declarations, supplied values (parameter-file shape) and their rules.

learn.microsoft.com/azure/azure-resource-manager/templates/parameters and
.../templates/parameter-files: a value is supplied as ``{"name": {"value": ...}}``; types are
string, securestring, int, bool, object, secureObject and array (case-insensitive); a declaration
may carry defaultValue (which may use expressions, ``newGuid()`` and ``utcNow()`` included),
allowedValues, minValue/maxValue and minLength/maxLength.
"""

from __future__ import annotations

from galleries.arm.errors import PARAMETER_FILE_LINK, PARAMETERS_LINK, invalid_template
from galleries.arm.evaluator import Context, evaluate_value
from galleries.arm.functions import type_name

TYPES = {
    "string": "String",
    "securestring": "String",
    "int": "Integer",
    "bool": "Boolean",
    "object": "Object",
    "secureobject": "Object",
    "array": "Array",
}
ARM_TYPE = {
    "String": "String",
    "Integer": "Integer",
    "Boolean": "Boolean",
    "Object": "Object",
    "Array": "Array",
}
DECLARATION_KEYS = {
    "type",
    "defaultValue",
    "allowedValues",
    "minValue",
    "maxValue",
    "minLength",
    "maxLength",
    "metadata",
}
SECURE = {"securestring", "secureobject"}


def supplied_values(parameters: dict | None) -> dict:
    """Accept the parameter-file shape (whole file or its ``parameters`` object); each entry must be
    ``{"value": ...}`` — Key Vault ``reference`` entries are refused."""
    if not parameters:
        return {}
    if not isinstance(parameters, dict):
        raise invalid_template(
            "The deployment parameters must be an object.", "parameters", link=PARAMETERS_LINK, statement=True
        )
    if "parameters" in parameters and ("$schema" in parameters or "contentVersion" in parameters):
        parameters = parameters["parameters"] or {}
    out = {}
    for name, entry in parameters.items():
        path = f"parameters.{name}"
        if isinstance(entry, dict) and "reference" in entry:
            raise invalid_template(
                f"The parameter '{name}' uses a Key Vault reference, which this service does not support.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        if not isinstance(entry, dict) or set(entry) - {"value", "metadata"} or "value" not in entry:
            raise invalid_template(
                f"The parameter '{name}' must be given as {{\"value\": ...}}.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        out[name] = entry["value"]
    return out


def resolve_parameters(declared: dict, supplied: dict, ctx: Context) -> tuple[dict, set]:
    """Answer the parameter values and the names of the secure ones."""
    if not isinstance(declared, dict):
        raise invalid_template(
            "The template 'parameters' section must be an object.",
            "parameters",
            link=PARAMETERS_LINK,
            statement=True,
        )
    known = {name.lower() for name in declared}
    unknown = [name for name in supplied if name.lower() not in known]
    if unknown:
        raise invalid_template(
            f"The template parameters '{', '.join(unknown)}' in the parameters file are not valid; they are not present "
            "in the original template and can therefore not be provided at deployment time. The only supported "
            f"parameters for this template are '{', '.join(declared)}'.",
            "parameters",
            link=PARAMETERS_LINK,
            statement=True,
        )
    given = {name.lower(): value for name, value in supplied.items()}
    values: dict = {}
    secure: set = set()
    for name, declaration in declared.items():
        path = f"parameters.{name}"
        if not isinstance(declaration, dict):
            raise invalid_template(
                f"The template parameter '{name}' must be declared as an object.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        extra = set(declaration) - DECLARATION_KEYS
        if extra:
            raise invalid_template(
                f"The template parameter '{name}' has unsupported properties '{', '.join(sorted(extra))}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        kind = str(declaration.get("type", "")).lower()
        if kind not in TYPES:
            raise invalid_template(
                f"The template parameter '{name}' has type '{declaration.get('type')}'; the supported types are "
                "'string, securestring, int, bool, object, secureObject, array'.",
                f"{path}.type",
                link=PARAMETERS_LINK,
                statement=True,
            )
        if kind in SECURE:
            secure.add(name)
        if name.lower() in given:
            value = given[name.lower()]
        elif "defaultValue" in declaration:
            scoped = Context(**{**ctx.__dict__, "parameters": values, "defaults": True})
            value = evaluate_value(declaration["defaultValue"], scoped, f"{path}.defaultValue")
        else:
            raise invalid_template(
                f"The value for the template parameter '{name}' at '{path}' is not provided.",
                path,
                link=PARAMETER_FILE_LINK,
                statement=True,
            )
        check_value(name, declaration, kind, value, path)
        values[name] = value
    return values, secure


def check_value(name: str, declaration: dict, kind: str, value, path: str) -> None:
    expected = TYPES[kind]
    if type_name(value) != expected:
        raise invalid_template(
            f"Template parameter '{name}' was provided an invalid value. Expected a value of type '{expected}', "
            f"but received a value of type '{type_name(value)}'.",
            path,
            link=PARAMETERS_LINK,
            statement=True,
        )
    allowed = declaration.get("allowedValues")
    if allowed is not None:
        if not isinstance(allowed, list):
            raise invalid_template(
                f"The allowedValues of the template parameter '{name}' must be an array.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        items = value if expected == "Array" else [value]
        if any(item not in allowed for item in items):
            shown = ", ".join(str(a) for a in allowed)
            raise invalid_template(
                f"The provided value for the template parameter '{name}' at '{path}' is not valid. The value is not part of the "
                f"allowed value(s): '{shown}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
    if expected == "Integer":
        if "minValue" in declaration and value < declaration["minValue"]:
            raise invalid_template(
                f"The provided value for the template parameter '{name}' at '{path}' is not valid. The value must be greater "
                f"than or equal to '{declaration['minValue']}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        if "maxValue" in declaration and value > declaration["maxValue"]:
            raise invalid_template(
                f"The provided value for the template parameter '{name}' at '{path}' is not valid. The value must be less "
                f"than or equal to '{declaration['maxValue']}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
    if expected in ("String", "Array"):
        if "minLength" in declaration and len(value) < declaration["minLength"]:
            raise invalid_template(
                f"The provided value for the template parameter '{name}' at '{path}' is not valid. Length of the value should be "
                f"greater than or equal to '{declaration['minLength']}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
        if "maxLength" in declaration and len(value) > declaration["maxLength"]:
            raise invalid_template(
                f"The provided value for the template parameter '{name}' at '{path}' is not valid. Length of the value should be "
                f"less than or equal to '{declaration['maxLength']}'.",
                path,
                link=PARAMETERS_LINK,
                statement=True,
            )
