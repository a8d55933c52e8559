"""Template expansion: parameters, variables, resources (copy, condition, child resources, dependsOn,
implicit ``reference()`` order), nested inline deployments and outputs, into a :class:`Plan`.

learn.microsoft.com/azure/azure-resource-manager/templates/: syntax, variables, copy-resources,
copy-properties, copy-variables, copy-outputs, conditional-resource-deployment, resource-dependency,
child-resource-name-type, linked-templates (nested, ``expressionEvaluationOptions``), outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import galleries.arm.functions_date  # noqa: F401  (registers the date functions)
from galleries.arm.errors import ExpressionError, invalid_template
from galleries.arm.evaluator import (
    FUNCTIONS,
    LAZY,
    Context,
    NeedsReference,
    Scope,
    copy_count,
    evaluate_string,
    evaluate_value,
)
from galleries.arm.functions import type_name
from galleries.arm.functions_scope import build_id
from galleries.arm.params import resolve_parameters, supplied_values
from galleries.arm.parser import calls, is_expression, parse
from portal.core.errors import ServiceError

TEMPLATE_KEYS = {
    "$schema",
    "contentVersion",
    "apiProfile",
    "parameters",
    "variables",
    "resources",
    "outputs",
    "metadata",
    "functions",
}
RESOURCE_KEYS = {
    "type", "apiVersion", "name", "location", "tags", "properties", "dependsOn", "condition", "copy", "resources",
    "sku", "kind", "identity", "zones", "plan", "comments", "metadata", "managedBy", "resourceGroup", "subscriptionId",
    "scope",
}  # fmt: skip
BODY_KEYS = ("location", "tags", "properties", "sku", "kind", "identity", "zones", "plan", "managedBy")
DEPLOYMENTS = "microsoft.resources/deployments"
# ARM's output types (TemplateOutputType) and the JSON type each value must have
OUTPUT_TYPES = {
    "string": ("String", "String"),
    "securestring": ("SecureString", "String"),
    "int": ("Int", "Integer"),
    "bool": ("Bool", "Boolean"),
    "object": ("Object", "Object"),
    "secureobject": ("SecureObject", "Object"),
    "array": ("Array", "Array"),
}

#: A value's ARM type name as deployments show parameters and outputs (Int, Bool, String, Object, Array).
_ARM_TYPE_OF = {json: arm for arm, json in OUTPUT_TYPES.values() if not arm.startswith("Secure")}


def arm_type(value, secure: bool = False) -> str:
    """``value``'s type as ARM names it in a deployment's parameters and outputs (``SecureString`` /
    ``SecureObject`` for a secure one)."""
    name = _ARM_TYPE_OF.get(type_name(value), "Object")
    return ("SecureObject" if name == "Object" else "SecureString") if secure else name


ApiVersions = Callable[[str], Collection[str] | None]
Reference = Callable[[str, str | None, bool], Any]


@dataclass
class PlannedResource:
    id: str
    type: str
    name: str
    api_version: str
    path: str
    depends_on: list[str] = field(default_factory=list)
    batch: int = 0
    body: dict | None = None  # location, tags, properties, sku... evaluated; None while deferred
    nested: Plan | None = None
    copy: str | None = None
    extends: str | None = None  # an extension resource's target (scope) id
    _raw: dict = field(default_factory=dict, repr=False)
    _ctx: Context | None = field(default=None, repr=False)

    @property
    def deferred(self) -> bool:
        """The body needs ``reference()`` of a resource deployed earlier in this deployment."""
        return self.body is None

    @property
    def location(self):
        return (self.body or {}).get("location")

    @property
    def tags(self):
        return (self.body or {}).get("tags") or {}

    @property
    def properties(self):
        return (self.body or {}).get("properties")

    def resolve(self, reference: Reference) -> dict:
        """Evaluate the body now that what it references is deployed (at execution time)."""
        if self.body is not None:
            return self.body
        ctx = Context(**{**self._ctx.__dict__, "reference": reference, "deployed": lambda _id: True})
        try:
            return _evaluate_body(self._raw, ctx, self.path)
        except NeedsReference as need:
            raise _no_reader(need, self.path) from None


@dataclass
class Plan:
    scope: Scope
    resources: list[PlannedResource]
    batches: list[list[str]]
    parameters: dict
    secure_parameters: set
    _outputs: dict = field(default_factory=dict, repr=False)
    _ctx: Context | None = field(default=None, repr=False)

    def resource(self, resource_id: str) -> PlannedResource:
        return next(r for r in self.resources if r.id.lower() == resource_id.lower())

    def outputs(self, reference: Reference | None = None) -> dict:
        """Evaluate ``outputs`` after the deployment, in ARM's ``{"name": {"type", "value"}}`` shape."""
        try:
            return self._outputs_now(reference)
        except NeedsReference as need:
            raise _no_reader(need, "outputs") from None

    def _outputs_now(self, reference: Reference | None) -> dict:
        ctx = Context(**{**self._ctx.__dict__, "reference": reference, "deployed": lambda _id: True})
        out = {}
        for name, output in self._outputs.items():
            path = f"outputs.{name}"
            if not isinstance(output, dict) or set(output) - {
                "type",
                "value",
                "copy",
                "condition",
                "metadata",
            }:
                raise invalid_template(f"The output '{name}' must have 'type' and 'value' or 'copy'.", path)
            if "condition" in output and not _condition(output["condition"], ctx, f"{path}.condition"):
                continue
            kind = str(output.get("type", "")).lower()
            if kind not in OUTPUT_TYPES:
                raise invalid_template(
                    f"The output '{name}' has an unsupported type '{output.get('type')}'.", f"{path}.type"
                )
            if "copy" in output:
                loop = output["copy"]
                count = copy_count(
                    evaluate_value(loop.get("count"), ctx, f"{path}.copy.count"), f"{path}.copy.count"
                )
                value = [
                    evaluate_value(loop.get("input"), ctx.with_copy(None, i), f"{path}.copy.input")
                    for i in range(count)
                ]
            else:
                value = evaluate_value(output.get("value"), ctx, f"{path}.value")
            arm_type, json_type = OUTPUT_TYPES[kind]
            if type_name(value) != json_type:
                raise invalid_template(
                    f"The template output '{name}' is not valid: expected a value of type '{json_type}', "
                    f"but received a value of type '{type_name(value)}'.",
                    path,
                )
            # secure outputs are not returned: their value is not kept in the deployment
            out[name] = (
                {"type": arm_type} if arm_type.startswith("Secure") else {"type": arm_type, "value": value}
            )
        return out


def _no_reader(need: NeedsReference, path: str) -> ServiceError:
    return invalid_template(
        f"reference('{need.resource_id}') needs a reader of deployed resources, and none was given.", path
    )


def expand(
    template: dict,
    parameters: dict | None,
    scope: Scope,
    api_versions: ApiVersions | None = None,
    reference: Reference | None = None,
) -> Plan:
    """Expand a template into a plan. ``api_versions(type)`` answers the api-versions accepted for a
    resource type (None: the type is not served); ``reference(id, api_version, full)`` reads a resource
    that exists before this deployment."""
    _precheck(template, "")
    return _expand(template, supplied_values(parameters), scope, api_versions, reference, None)


def _precheck(value: Any, path: str) -> None:
    """Parse every expression of the template up front, outputs and resources whose condition is
    false included: a syntax error or an unknown function is refused before anything is deployed."""
    if isinstance(value, dict):
        for key, item in value.items():
            _precheck(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _precheck(item, f"{path}[{i}]")
    elif is_expression(value):
        try:
            tree = parse(value[1:-1])
        except ExpressionError as exc:
            raise invalid_template(str(exc), path, value) from None
        for call in calls(tree):
            if call[1].lower() not in FUNCTIONS and call[1].lower() not in LAZY:
                raise invalid_template(f"The template function '{call[1]}' is not found.", path, value)


def _expand(template, supplied, scope, api_versions, reference, outer: Context | None) -> Plan:
    if not isinstance(template, dict):
        raise invalid_template("The template must be a JSON object.", "template")
    extra = set(template) - TEMPLATE_KEYS
    if extra:
        raise invalid_template(
            f"The template has unsupported properties '{', '.join(sorted(extra))}'.", "template"
        )
    if template.get("functions"):
        raise invalid_template("User-defined functions are not supported by this service.", "functions")
    if not isinstance(template.get("resources", []), list):
        raise invalid_template(
            "The template 'resources' must be an array (symbolic names are not supported).", "resources"
        )
    if outer is not None:
        ctx = Context(**{**outer.__dict__, "scope": scope, "copy_indexes": {}, "template": template})
        values, secure = outer.parameters, set()
    else:
        ctx = Context(scope=scope, template=template)
        values, secure = resolve_parameters(template.get("parameters") or {}, supplied, ctx)
        ctx.parameters = values
        ctx.variables = _variables(template.get("variables") or {}, ctx)
    instances = _instances(template.get("resources") or [], ctx, api_versions)
    live = [i for i in instances if i.enabled]
    ids = _index(instances)
    for item in live:
        _dependencies(item, instances, ids)
    order, batches = _order(live)
    resolve_name = _name_resolver(ids)
    plan_ctx = Context(**{**ctx.__dict__, "resolve_name": resolve_name})
    plan = Plan(scope, [], batches, values, secure, template.get("outputs") or {}, plan_ctx)
    for item in order:
        body_ctx = Context(
            **{
                **item.ctx.__dict__,
                "resolve_name": resolve_name,
                "reference": reference,
                "deployed": lambda _id: False,
            }
        )
        planned = PlannedResource(
            item.id, item.type, item.name, item.api_version, item.path, sorted(item.deps), item.batch,
            copy=item.copy, extends=item.extends, _raw=item.raw, _ctx=body_ctx,
        )  # fmt: skip
        if item.type.lower() == DEPLOYMENTS:
            planned.body, planned.nested = _nested(item, body_ctx, api_versions, reference)
        else:
            try:
                planned.body = _evaluate_body(item.raw, body_ctx, item.path)
            except NeedsReference:
                planned.body = None
        plan.resources.append(planned)
    return plan


def _variables(declared: dict, ctx: Context) -> Callable[[str], Any]:
    if not isinstance(declared, dict):
        raise invalid_template("The template 'variables' section must be an object.", "variables")
    loops = declared.get("copy") or []
    names = {k.lower(): k for k in declared if k != "copy"}
    for loop in loops if isinstance(loops, list) else [None]:
        if not isinstance(loop, dict) or not {"name", "count", "input"} <= set(loop):
            raise invalid_template("A variable copy needs 'name', 'count' and 'input'.", "variables.copy")
        names[str(loop["name"]).lower()] = loop
    cache: dict = {}
    busy: set = set()

    def variable(name: str):
        key = name.lower()
        if key in cache:
            return cache[key]
        if key not in names:
            raise ExpressionError(f"The template variable '{name}' is not found.")
        if key in busy:
            raise ExpressionError(f"The template variable '{name}' refers to itself (a circular reference).")
        busy.add(key)
        try:
            entry = names[key]
            if isinstance(entry, dict) and entry in loops:
                path = f"variables.copy[{loops.index(entry)}]"
                count = copy_count(evaluate_value(entry["count"], ctx, f"{path}.count"), f"{path}.count")
                value = [
                    evaluate_value(
                        entry["input"], ctx.with_copy(entry["name"], i, unnamed=False), f"{path}.input", True
                    )
                    for i in range(count)
                ]
            else:
                value = evaluate_value(declared[entry], ctx, f"variables.{entry}", True)
        finally:
            busy.discard(key)
        cache[key] = value
        return value

    ctx.variables = variable
    for name in names:  # ARM evaluates every variable, used or not: a broken one fails the deployment
        variable(name)
    return variable


@dataclass
class _Instance:
    type: str
    name: str
    id: str
    api_version: str
    path: str
    raw: dict
    ctx: Context
    enabled: bool
    copy: str | None = None
    copy_index: int = 0
    mode: str = "parallel"
    batch_size: int = 0
    parent: _Instance | None = None
    extends: str | None = None  # the resource an extension resource (role assignment) applies to
    deps: set = field(default_factory=set)
    batch: int = 0


def _instances(
    resources: list, ctx: Context, api_versions, parent: _Instance | None = None, base: str = "resources"
) -> list:
    out = []
    for position, raw in enumerate(resources):
        path = f"{base}[{position}]"
        if not isinstance(raw, dict):
            raise invalid_template("A resource must be an object.", path)
        extra = set(raw) - RESOURCE_KEYS
        if extra:
            raise invalid_template(
                f"The resource has unsupported properties '{', '.join(sorted(extra))}'.", path
            )
        for key in ("type", "apiVersion", "name"):
            if key not in raw:
                raise invalid_template(f"The resource is missing the required property '{key}'.", path)
        copy, mode, batch_size, count = None, "parallel", 0, 1
        if "copy" in raw:
            loop = raw["copy"]
            if (
                not isinstance(loop, dict)
                or "name" not in loop
                or "count" not in loop
                or set(loop) - {"name", "count", "mode", "batchSize"}
            ):
                raise invalid_template(
                    "A resource copy needs 'name' and 'count' (and optionally 'mode', 'batchSize').",
                    f"{path}.copy",
                )
            copy = evaluate_value(loop["name"], ctx, f"{path}.copy.name")
            count = copy_count(evaluate_value(loop["count"], ctx, f"{path}.copy.count"), f"{path}.copy.count")
            mode = str(evaluate_value(loop.get("mode", "parallel"), ctx, f"{path}.copy.mode")).lower()
            if mode not in ("serial", "parallel"):
                raise invalid_template(
                    f"The copy mode '{mode}' must be 'serial' or 'parallel'.", f"{path}.copy.mode"
                )
            batch_size = evaluate_value(
                loop.get("batchSize", 1 if mode == "serial" else 0), ctx, f"{path}.copy.batchSize"
            )
            if (
                not isinstance(batch_size, int)
                or isinstance(batch_size, bool)
                or batch_size < (1 if mode == "serial" else 0)
                or batch_size > 800
            ):
                raise invalid_template(
                    "The copy batchSize must be an integer between 1 and 800.", f"{path}.copy.batchSize"
                )
        for index in range(count):
            here = ctx.with_copy(copy, index) if copy else ctx
            item = _instance(raw, here, path, parent, api_versions)
            item.copy, item.copy_index, item.mode, item.batch_size = copy, index, mode, batch_size
            out.append(item)
            out.extend(_instances(raw.get("resources") or [], here, api_versions, item, f"{path}.resources"))
    return out


def _instance(raw: dict, ctx: Context, path: str, parent: _Instance | None, api_versions) -> _Instance:
    enabled = _condition(raw["condition"], ctx, f"{path}.condition") if "condition" in raw else True
    resource_type = evaluate_value(raw["type"], ctx, f"{path}.type")
    name = evaluate_value(raw["name"], ctx, f"{path}.name")
    api_version = evaluate_value(raw["apiVersion"], ctx, f"{path}.apiVersion")
    if (
        not isinstance(name, str)
        or not name
        or not isinstance(resource_type, str)
        or not isinstance(api_version, str)
    ):
        raise invalid_template(
            "The resource 'type', 'name' and 'apiVersion' must be non-empty strings.", path
        )
    if parent is not None and "/" not in resource_type:
        resource_type, name = f"{parent.type}/{resource_type}", f"{parent.name}/{name}"
        enabled = enabled and parent.enabled
    segments = resource_type.split("/")
    if len(name.split("/")) != len(segments) - 1:
        raise invalid_template(
            f"The template resource '{name}' for type '{resource_type}' has incorrect segment lengths. A nested resource "
            "type must have identical number of segments as its resource name. A root resource type must have segment "
            "length one greater than its resource name.",
            f"{path}.name",
        )
    resource_type, name, extends = _extension(raw, resource_type, name, ctx, path)
    if resource_type.lower() != DEPLOYMENTS and api_versions is not None:
        _check_api_version(resource_type, api_version, api_versions, f"{path}.apiVersion")
    scope = ctx.scope
    if extends:
        try:
            resource_id = build_id(extends, resource_type, name.split("/"))
        except ExpressionError as exc:
            raise invalid_template(str(exc), f"{path}.type") from None
    elif resource_type.lower() == "microsoft.resources/resourcegroups":
        if scope.resource_group:
            raise invalid_template(
                "Resource groups can only be deployed at subscription scope.", f"{path}.type"
            )
        resource_id = f"/subscriptions/{scope.subscription_id}/resourceGroups/{name}"
    else:
        try:
            resource_id = build_id(scope.id, resource_type, name.split("/"))
        except ExpressionError as exc:
            raise invalid_template(str(exc), f"{path}.type") from None
    return _Instance(
        resource_type, name, resource_id, api_version, path, raw, ctx, enabled, parent=parent, extends=extends
    )


def _extension(
    raw: dict, resource_type: str, name: str, ctx: Context, path: str
) -> tuple[str, str, str | None]:
    """An extension resource (a role assignment on a gallery, say): with ``scope`` (a resource id, or
    ``Microsoft.Compute/galleries/g`` relative to the deployment's scope), or in the older form
    ``Microsoft.Compute/galleries/providers/roleAssignments`` named ``g/Microsoft.Authorization/<guid>``
    (learn.microsoft.com/azure/azure-resource-manager/templates/scope-extension-resources).
    Answers the extension's own type and name and the id it extends."""
    segments = resource_type.split("/")
    lowered = [s.lower() for s in segments]
    if "scope" in raw:
        target = evaluate_value(raw["scope"], ctx, f"{path}.scope")
        if not isinstance(target, str):
            target = ""
        if target.startswith("/"):
            return resource_type, name, target.rstrip("/")
        parts = target.split("/")
        if len(parts) < 3 or len(parts) % 2 == 0 or "." not in parts[0]:
            raise invalid_template(
                f"The scope '{target}' must be a resource id or a resource type and name such as "
                "'Microsoft.Compute/galleries/myGallery'.",
                f"{path}.scope",
            )
        return resource_type, name, f"{ctx.scope.id}/providers/{target}"
    if "providers" in lowered[2:]:
        k = lowered.index("providers", 2)
        names = name.split("/")
        try:
            base = build_id(ctx.scope.id, "/".join(segments[:k]), names[: k - 1])
        except ExpressionError as exc:
            raise invalid_template(str(exc), f"{path}.type") from None
        return f"{names[k - 1]}/{'/'.join(segments[k + 1 :])}", "/".join(names[k:]), base
    return resource_type, name, None


def _check_api_version(resource_type: str, api_version: str, api_versions: ApiVersions, path: str) -> None:
    accepted = api_versions(resource_type)
    if accepted is None:
        namespace, _, rest = resource_type.partition("/")
        raise ServiceError(
            "InvalidResourceType",
            f"The resource type '{rest}' could not be found in the namespace '{namespace}' for api version '{api_version}'.",
            target=path,
        )
    if api_version not in accepted:
        namespace, _, rest = resource_type.partition("/")
        raise ServiceError(
            "NoRegisteredProviderFound",
            f"No registered resource provider found for API version '{api_version}' and type '{rest}' in namespace "
            f"'{namespace}'. The supported api-versions are '{', '.join(sorted(accepted))}'.",
            target=path,
        )


def _condition(value, ctx: Context, path: str) -> bool:
    result = evaluate_value(value, ctx, path)
    if not isinstance(result, bool):
        raise invalid_template(f"The condition must be a boolean, not '{type_name(result)}'.", path)
    return result


def _index(instances: list) -> dict:
    """Every key a dependsOn entry may use -> the instances it names: full id, name, type/name, copy loop."""
    ids: dict = {}
    for item in instances:
        keys = [item.id, item.name, f"{item.type}/{item.name}"]
        if item.type.lower() == "microsoft.resources/resourcegroups":
            # resourceId()/subscriptionResourceId() spell a resource group with its provider segment
            keys.append(
                item.id.replace("/resourceGroups/", "/providers/Microsoft.Resources/resourceGroups/", 1)
            )
        for key in keys:
            ids.setdefault(key.lower(), []).append(item)
        if item.copy:
            ids.setdefault(item.copy.lower(), []).append(item)
    return ids


def _name_resolver(ids: dict) -> Callable[[str], str | None]:
    def resolve(target: str) -> str | None:
        found = [i for i in ids.get(target.lower(), []) if i.enabled]
        return found[0].id if found else None

    return resolve


def _dependencies(item: _Instance, instances: list, ids: dict) -> None:
    raw_deps = evaluate_value(item.raw.get("dependsOn", []), item.ctx, f"{item.path}.dependsOn")
    if not isinstance(raw_deps, list):
        raise invalid_template("The resource 'dependsOn' must be an array.", f"{item.path}.dependsOn")
    for i, target in enumerate(raw_deps):
        if not isinstance(target, str) or target.lower() not in ids:
            raise invalid_template(
                f"The resource '{target}' is not defined in the template.", f"{item.path}.dependsOn[{i}]"
            )
        item.deps.update(d.id for d in ids[target.lower()] if d.enabled and d is not item)
    for target in _referenced(item):
        found = ids.get(target.lower())
        if found:
            item.deps.update(d.id for d in found if d.enabled and d is not item)
    if item.parent is not None and item.parent.enabled:
        item.deps.add(item.parent.id)
    if item.extends:
        item.deps.update(d.id for d in ids.get(item.extends.lower(), []) if d.enabled)
    parent_id = item.id.rsplit("/", 2)[0]
    for other in ids.get(parent_id.lower(), []):
        if other.enabled and other.id.lower() == parent_id.lower():
            item.deps.add(other.id)
    if item.copy and item.mode == "serial" and item.copy_index >= item.batch_size:
        first = (item.copy_index // item.batch_size - 1) * item.batch_size
        for other in instances:
            if (
                other.copy == item.copy
                and other.raw is item.raw
                and first <= other.copy_index < first + item.batch_size
            ):
                if other.enabled:
                    item.deps.add(other.id)


def _referenced(item: _Instance) -> list[str]:
    """The targets of ``reference()`` in a resource: the implicit order they imply."""
    out = []
    for text in _strings(
        {k: item.raw[k] for k in item.raw if k not in ("resources", "dependsOn", "name", "copy")}
    ):
        if not is_expression(text) or "reference" not in text.lower():
            continue
        try:
            tree = parse(text[1:-1])
        except ExpressionError:
            continue  # evaluation reports it, with the path
        for call in calls(tree, "reference"):
            if call[2]:
                try:
                    target = evaluate_string(f"[{_unparse(call[2][0])}]", item.ctx)
                except (ServiceError, NeedsReference):
                    continue
                if isinstance(target, str):
                    out.append(target)
    return out


def _unparse(tree: tuple) -> str:
    if tree[0] == "lit":
        return f"'{tree[1].replace(chr(39), chr(39) * 2)}'" if isinstance(tree[1], str) else str(tree[1])
    if tree[0] == "get":
        return f"{_unparse(tree[1])}[{_unparse(tree[2])}]"
    return f"{tree[1]}({', '.join(_unparse(a) for a in tree[2])})"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _order(live: list) -> tuple[list, list]:
    """Kahn's algorithm by levels: each batch depends only on earlier batches."""
    by_id = {i.id.lower(): i for i in live}
    for item in live:
        item.deps = {d for d in item.deps if d.lower() in by_id}
    waiting = {i.id.lower(): {d.lower() for d in i.deps} for i in live}
    done: set = set()
    order, batches = [], []
    while waiting:
        ready = sorted(k for k, deps in waiting.items() if deps <= done)
        if not ready:
            cycle = sorted(by_id[k].id for k in waiting)
            raise invalid_template(
                f"Circular dependency detected on resource: '{', '.join(cycle)}'.", by_id[min(waiting)].path
            )
        batch = [by_id[k] for k in ready]
        for item in batch:
            item.batch = len(batches)
            del waiting[item.id.lower()]
        done.update(ready)
        order.extend(batch)
        batches.append([i.id for i in batch])
    return order, batches


def _evaluate_body(raw: dict, ctx: Context, path: str) -> dict:
    body = {}
    for key in BODY_KEYS:
        if key in raw:
            body[key] = evaluate_value(raw[key], ctx, f"{path}.{key}", property_copy=key == "properties")
    return body


def _nested(item: _Instance, ctx: Context, api_versions, reference) -> tuple[dict, Plan]:
    """An inline nested deployment: ``properties.template`` expanded in its own plan, with ``outer``
    (the default) or ``inner`` expression evaluation."""
    raw = item.raw
    props = raw.get("properties")
    path = f"{item.path}.properties"
    if not isinstance(props, dict) or "template" not in props:
        raise invalid_template("Only inline nested deployments (properties.template) are supported.", path)
    extra = set(props) - {"mode", "template", "parameters", "expressionEvaluationOptions"}
    if extra:
        raise invalid_template(
            f"The nested deployment has unsupported properties '{', '.join(sorted(extra))}'.", path
        )
    try:
        mode = evaluate_value(props.get("mode", "Incremental"), ctx, f"{path}.mode")
        evaluation = evaluate_value(
            props.get("expressionEvaluationOptions", {}), ctx, f"{path}.expressionEvaluationOptions"
        )
        passed = evaluate_value(props.get("parameters", {}), ctx, f"{path}.parameters")
        group = (
            evaluate_value(raw.get("resourceGroup"), ctx, f"{item.path}.resourceGroup")
            if "resourceGroup" in raw
            else None
        )
        subscription = (
            evaluate_value(raw.get("subscriptionId"), ctx, f"{item.path}.subscriptionId")
            if "subscriptionId" in raw
            else None
        )
    except NeedsReference:
        raise invalid_template(
            "A nested deployment whose parameters use reference() is not supported.", path
        ) from None
    if str(mode).lower() != "incremental":
        raise invalid_template("A nested deployment must use mode 'Incremental'.", f"{path}.mode")
    inner = str((evaluation or {}).get("scope", "outer")).lower()
    if inner not in ("inner", "outer"):
        raise invalid_template(
            "expressionEvaluationOptions.scope must be 'inner' or 'outer'.",
            f"{path}.expressionEvaluationOptions",
        )
    parent = ctx.scope
    scope = Scope(
        subscription_id=subscription or parent.subscription_id,
        tenant_id=parent.tenant_id,
        subscription_name=parent.subscription_name,
        resource_group=group or parent.resource_group,
        location=parent.location,
        resource_group_tags=parent.resource_group_tags if not group else {},
        deployment_name=item.name,
        environment=parent.environment,
    )
    template = props["template"]
    try:
        if inner == "inner":
            plan = _expand(template, supplied_values(passed), scope, api_versions, reference, None)
        else:
            if isinstance(template, dict) and (template.get("parameters") or template.get("variables")):
                raise invalid_template(
                    "A nested template evaluated in the outer scope cannot declare parameters or variables; "
                    "use expressionEvaluationOptions.scope 'inner'.",
                    f"{path}.template",
                )
            plan = _expand(template, {}, scope, api_versions, reference, ctx)
    except NeedsReference:
        raise invalid_template(
            "A nested deployment that uses reference() of this deployment's resources is not supported.", path
        ) from None
    body = {"properties": {"mode": "Incremental", "parameters": passed}}
    return body, plan


def flatten(plan: Plan) -> list[PlannedResource]:
    """Every resource of a plan and of its nested deployments, outermost first."""
    out = []
    for resource in plan.resources:
        out.append(resource)
        if resource.nested is not None:
            out.extend(flatten(resource.nested))
    return out
