"""Evaluating parsed expressions and whole JSON values against a :class:`Context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from galleries.arm.errors import ExpressionError, invalid_template
from galleries.arm.parser import is_expression, parse, unescape
from portal.core.errors import ServiceError


class NeedsReference(Exception):
    """``reference()`` of a resource this deployment has not deployed yet: evaluate later."""

    def __init__(self, resource_id: str):
        super().__init__(resource_id)
        self.resource_id = resource_id


@dataclass(frozen=True)
class Scope:
    """Where a deployment runs: a resource group (``resource_group`` set) or a subscription."""

    subscription_id: str
    tenant_id: str = "00000000-0000-0000-0000-000000000000"
    subscription_name: str = ""
    resource_group: str | None = None
    location: str | None = None
    resource_group_tags: dict = field(default_factory=dict)
    deployment_name: str = "deployment"
    environment: dict | None = None

    @property
    def id(self) -> str:
        base = f"/subscriptions/{self.subscription_id}"
        return f"{base}/resourceGroups/{self.resource_group}" if self.resource_group else base


@dataclass
class Context:
    scope: Scope
    parameters: dict = field(default_factory=dict)
    variables: Callable[[str], Any] | None = None
    copy_indexes: dict = field(default_factory=dict)  # loop name -> index; None -> the innermost loop
    reference: Callable[..., Any] | None = None  # (resource_id, api_version, full) -> dict
    resolve_name: Callable[[str], str | None] | None = None  # a template resource's name -> its id
    deployed: Callable[[str], bool] | None = None  # may reference() read this template resource now?
    defaults: bool = False  # newGuid()/utcNow() are allowed in parameter defaults only
    lambdas: dict = field(default_factory=dict)
    template: dict = field(default_factory=dict)

    def with_copy(self, name: str | None, index: int, unnamed: bool = True) -> Context:
        """Enter a loop. Property and variable iterations are ``unnamed=False``: inside them
        ``copyIndex()`` without a name still means the resource's loop, the iteration needs its name
        (learn.microsoft.com/azure/azure-resource-manager/templates/copy-properties)."""
        indexes = dict(self.copy_indexes)
        indexes[name] = index
        if unnamed:
            indexes[None] = index
        return replace(self, copy_indexes=indexes)


@dataclass(frozen=True)
class Lambda:
    names: tuple
    body: tuple
    ctx: Context

    def __call__(self, *values):
        if len(values) != len(self.names):
            raise ExpressionError(
                f"The lambda expects {len(self.names)} parameter(s), but {len(values)} were provided."
            )
        lambdas = {**self.ctx.lambdas, **{n.lower(): v for n, v in zip(self.names, values, strict=True)}}
        return evaluate(self.body, Context(**{**self.ctx.__dict__, "lambdas": lambdas}))


FUNCTIONS: dict[str, Callable] = {}
LAZY: dict[str, Callable] = {}


def evaluate(tree: tuple, ctx: Context) -> Any:
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "get":
        return access(evaluate(tree[1], ctx), evaluate(tree[2], ctx))
    name = tree[1].lower()
    if name in LAZY:
        return LAZY[name](ctx, *tree[2])
    function = FUNCTIONS.get(name)
    if function is None:
        raise ExpressionError(f"The template function '{tree[1]}' is not found.")
    args = [evaluate(arg, ctx) for arg in tree[2]]
    return function(ctx, *args)


def access(target: Any, key: Any) -> Any:
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise ExpressionError(
                f"The language expression property '{key}' can't be evaluated, property name must be a string."
            )
        for name, value in target.items():
            if name.lower() == key.lower():
                return value
        available = ", ".join(target)
        raise ExpressionError(
            f"The language expression property '{key}' doesn't exist, available properties are '{available}'."
        )
    if isinstance(target, list | str):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExpressionError(
                f"The language expression property '{key}' can't be evaluated, property index must be an integer."
            )
        if not 0 <= key < len(target):
            raise ExpressionError(f"The language expression property array index '{key}' is out of bounds.")
        return target[key]
    raise ExpressionError(f"The language expression property '{key}' can't be evaluated.")


def evaluate_string(text: str, ctx: Context, path: str = "") -> Any:
    """A template string: an expression is evaluated, a literal returned (``[[`` unescaped)."""
    if not is_expression(text):
        return unescape(text) if isinstance(text, str) else text
    try:
        value = evaluate(parse(text[1:-1]), ctx)
        if isinstance(value, Lambda):
            raise ExpressionError(
                "A lambda can only be given to a function that takes one (filter, map, reduce, sort)."
            )
        return value
    except ExpressionError as exc:
        raise invalid_template(str(exc), path, text) from None
    except (ServiceError, NeedsReference):
        raise
    except (TypeError, ValueError, LookupError, ArithmeticError, RecursionError) as exc:
        raise invalid_template(
            f"The template language expression could not be evaluated: {exc}.", path, text
        ) from None


def evaluate_value(value: Any, ctx: Context, path: str = "", property_copy: bool = False) -> Any:
    """Evaluate every expression in a JSON value; with ``property_copy`` a ``copy`` array in an object
    makes property iterations (``{"name", "count", "input"}``)."""
    if isinstance(value, str):
        return evaluate_string(value, ctx, path)
    if isinstance(value, list):
        return [evaluate_value(v, ctx, f"{path}[{i}]", property_copy) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if property_copy and key == "copy" and isinstance(item, list):
                out.update(copy_iterations(item, ctx, f"{path}.copy"))
                continue
            out[key] = evaluate_value(item, ctx, f"{path}.{key}" if path else key, property_copy)
        return out
    return value


def copy_iterations(loops: list, ctx: Context, path: str) -> dict:
    out = {}
    for i, loop in enumerate(loops):
        here = f"{path}[{i}]"
        if (
            not isinstance(loop, dict)
            or set(loop) - {"name", "count", "input"}
            or not {"name", "input"} <= set(loop)
        ):
            raise invalid_template(
                "A property copy needs 'name', 'count' and 'input' and nothing else.", here
            )
        name = evaluate_value(loop["name"], ctx, f"{here}.name")
        count = copy_count(evaluate_value(loop.get("count", 0), ctx, f"{here}.count"), f"{here}.count")
        out[name] = [
            evaluate_value(loop["input"], ctx.with_copy(name, n, unnamed=False), f"{here}.input", True)
            for n in range(count)
        ]
    return out


def copy_count(count: Any, path: str) -> int:
    """ARM allows 0 to 800 iterations (learn.microsoft.com/azure/azure-resource-manager/templates/copy-resources)."""
    if not isinstance(count, int) or isinstance(count, bool):
        raise invalid_template(f"The copy count must be an integer, not '{count}'.", path)
    if not 0 <= count <= 800:
        raise invalid_template(f"The copy count '{count}' must be between 0 and 800.", path)
    return count
