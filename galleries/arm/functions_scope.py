"""Deployment, resource, logical-lazy and lambda functions: the ones that read the :class:`Context`.

learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-deployment,
-resource, -logical (``if`` evaluates only the branch it returns) and -lambda.
"""

from __future__ import annotations

from galleries.arm.errors import ExpressionError
from galleries.arm.evaluator import LAZY, Context, Lambda, NeedsReference, evaluate
from galleries.arm.functions import expect, fn, type_name

AZURE_CLOUD = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}


def _not_here(function: str) -> ExpressionError:
    return ExpressionError(f"The template function '{function}' is not expected at this location.")


# --- lazy: if, lambda -------------------------------------------------------------------------------


def _if(ctx: Context, *args):
    if len(args) != 3:
        raise ExpressionError(
            f"The template language function 'if' expects 3 parameter(s), but {len(args)} were provided."
        )
    condition = expect(evaluate(args[0], ctx), (bool,), "if")
    return evaluate(args[1] if condition else args[2], ctx)


def _lambda(ctx: Context, *args):
    if not args:
        raise ExpressionError("The template language function 'lambda' needs parameter names and a body.")
    names = tuple(evaluate(a, ctx) for a in args[:-1])
    for i, name in enumerate(names, 1):
        expect(name, (str,), "lambda", i)
    return Lambda(names, args[-1], ctx)


LAZY["if"] = _if
LAZY["lambda"] = _lambda


@fn("lambdaVariables", min_args=1, max_args=1)
def _lambda_variables(ctx, name):
    key = expect(name, (str,), "lambdaVariables").lower()
    if key not in ctx.lambdas:
        raise ExpressionError(f"The lambda variable '{name}' is not defined.")
    return ctx.lambdas[key]


def _fn(value, function, position=2) -> Lambda:
    if not isinstance(value, Lambda):
        raise ExpressionError(
            f"The template language function '{function}' expects a lambda as parameter {position}."
        )
    return value


@fn("filter", min_args=2, max_args=2)
def _filter(ctx, items, predicate):
    predicate = _fn(predicate, "filter")
    out = []
    for item in expect(items, (list,), "filter"):
        keep = predicate(item) if len(predicate.names) == 1 else predicate(item, len(out))
        if expect(keep, (bool,), "filter"):
            out.append(item)
    return out


@fn("map", min_args=2, max_args=2)
def _map(ctx, items, mapper):
    mapper = _fn(mapper, "map")
    items = expect(items, (list,), "map")
    return [mapper(item) if len(mapper.names) == 1 else mapper(item, i) for i, item in enumerate(items)]


@fn("reduce", min_args=3, max_args=3)
def _reduce(ctx, items, initial, reducer):
    reducer = _fn(reducer, "reduce", 3)
    value = initial
    for i, item in enumerate(expect(items, (list,), "reduce")):
        value = reducer(value, item) if len(reducer.names) == 2 else reducer(value, item, i)
    return value


@fn("sort", min_args=2, max_args=2)
def _sort(ctx, items, before):
    before = _fn(before, "sort")
    out = []
    for item in expect(items, (list,), "sort"):  # a stable insertion sort: the lambda is the only order
        position = len(out)
        while position > 0 and expect(before(item, out[position - 1]), (bool,), "sort"):
            position -= 1
        out.insert(position, item)
    return out


# --- deployment ---------------------------------------------------------------------------------------


@fn("parameters", min_args=1, max_args=1)
def _parameters(ctx, name):
    expect(name, (str,), "parameters")
    for key, value in ctx.parameters.items():
        if key.lower() == name.lower():
            return value
    raise ExpressionError(f"The template parameter '{name}' is not found.")


@fn("variables", min_args=1, max_args=1)
def _variables(ctx, name):
    expect(name, (str,), "variables")
    if ctx.variables is None:
        raise _not_here("variables")
    return ctx.variables(name)


@fn("copyIndex", max_args=2)
def _copy_index(ctx, *args):
    loop, offset = None, 0
    for i, arg in enumerate(args, 1):
        if isinstance(arg, str) and i == 1:
            loop = arg
        elif isinstance(arg, int) and not isinstance(arg, bool):
            offset = arg
        else:
            expect(arg, (int,), "copyIndex", i)
    indexes = {(k.lower() if isinstance(k, str) else k): v for k, v in ctx.copy_indexes.items()}
    key = loop.lower() if loop else None
    if key not in indexes:
        if loop:
            raise ExpressionError(
                f"The template function 'copyIndex' refers to the copy loop '{loop}', which is not in scope here."
            )
        raise _not_here("copyIndex")
    return indexes[key] + offset


@fn("resourceGroup", max_args=0)
def _resource_group(ctx):
    scope = ctx.scope
    if not scope.resource_group:
        raise ExpressionError(
            "The template function 'resourceGroup' is not expected at this location: the deployment is at subscription scope."
        )
    return {
        "id": scope.id,
        "name": scope.resource_group,
        "type": "Microsoft.Resources/resourceGroups",
        "location": scope.location,
        "tags": dict(scope.resource_group_tags),
        "properties": {"provisioningState": "Succeeded"},
    }


@fn("subscription", max_args=0)
def _subscription(ctx):
    scope = ctx.scope
    return {
        "id": f"/subscriptions/{scope.subscription_id}",
        "subscriptionId": scope.subscription_id,
        "tenantId": scope.tenant_id,
        "displayName": scope.subscription_name,
    }


@fn("tenant", max_args=0)
def _tenant(ctx):
    return {"id": f"/tenants/{ctx.scope.tenant_id}", "tenantId": ctx.scope.tenant_id}


@fn("deployment", max_args=0)
def _deployment(ctx):
    template = ctx.template
    out = {
        "name": ctx.scope.deployment_name,
        "properties": {
            "template": {k: template[k] for k in ("$schema", "contentVersion", "metadata") if k in template},
            "mode": "Incremental",
            "provisioningState": "Accepted",
        },
    }
    if not ctx.scope.resource_group:
        out["location"] = ctx.scope.location
    return out


@fn("environment", max_args=0)
def _environment(ctx):
    return ctx.scope.environment or AZURE_CLOUD


# --- resource ids and reference() ---------------------------------------------------------------------


def type_segments(resource_type: str, function: str = "resourceId") -> list[str]:
    parts = resource_type.split("/")
    if len(parts) < 2 or not all(parts) or "." not in parts[0]:
        raise ExpressionError(
            f"The template language function '{function}' was given the resource type '{resource_type}', "
            "which is not a fully qualified type such as 'Microsoft.Compute/galleries'."
        )
    return parts


def build_id(prefix: str, resource_type: str, names: list, function: str = "resourceId") -> str:
    parts = type_segments(resource_type, function)
    flat = [segment for name in names for segment in str(name).split("/")]
    for i, name in enumerate(names, 1):
        if not isinstance(name, str | int) or isinstance(name, bool) or name == "":
            raise ExpressionError(
                f"The resource name {i} given to '{function}' must be a non-empty string, not {type_name(name)}."
            )
    if len(flat) != len(parts) - 1:
        raise ExpressionError(
            f"Unable to evaluate template language function '{function}': the type '{resource_type}' requires "
            f"'{len(parts) - 1}' resource name argument(s)."
        )
    tail = "/".join(f"{t}/{n}" for t, n in zip(parts[1:], flat, strict=True))
    return f"{prefix}/providers/{parts[0]}/{tail}"


def _split_scope(args: list, function: str) -> tuple[list, list]:
    for i, arg in enumerate(args):
        if isinstance(arg, str) and "/" in arg and "." in arg.split("/")[0]:
            return list(args[:i]), list(args[i:])
    raise ExpressionError(
        f"The template language function '{function}' needs a resource type such as 'Microsoft.Compute/galleries'."
    )


@fn("resourceId", min_args=2)
def _resource_id(ctx, *args):
    scope, rest = _split_scope(list(args), "resourceId")
    if len(scope) > 2:
        raise ExpressionError(
            "The template language function 'resourceId' takes at most a subscription id and a resource group name before the type."
        )
    subscription = scope[0] if len(scope) == 2 else ctx.scope.subscription_id
    group = scope[-1] if scope else ctx.scope.resource_group
    prefix = f"/subscriptions/{subscription}" + (f"/resourceGroups/{group}" if group else "")
    return build_id(prefix, rest[0], rest[1:])


@fn("subscriptionResourceId", min_args=2)
def _subscription_resource_id(ctx, *args):
    scope, rest = _split_scope(list(args), "subscriptionResourceId")
    if len(scope) > 1:
        raise ExpressionError(
            "The template language function 'subscriptionResourceId' takes at most a subscription id before the type."
        )
    subscription = scope[0] if scope else ctx.scope.subscription_id
    return build_id(f"/subscriptions/{subscription}", rest[0], rest[1:], "subscriptionResourceId")


@fn("tenantResourceId", min_args=2)
def _tenant_resource_id(ctx, resource_type, *names):
    return build_id("", expect(resource_type, (str,), "tenantResourceId"), list(names), "tenantResourceId")


@fn("extensionResourceId", min_args=3)
def _extension_resource_id(ctx, base, resource_type, *names):
    expect(base, (str,), "extensionResourceId")
    return build_id(
        base.rstrip("/"),
        expect(resource_type, (str,), "extensionResourceId", 2),
        list(names),
        "extensionResourceId",
    )


def looks_like_id(value: str) -> bool:
    return value.lower().startswith("/subscriptions/") or value.lower().startswith("/providers/")


@fn("reference", min_args=1, max_args=3)
def _reference(ctx, target, api_version=None, full=None):
    expect(target, (str,), "reference")
    if ctx.resolve_name is None:
        raise _not_here("reference")
    resource_id = ctx.resolve_name(target)
    if resource_id is None:
        if not looks_like_id(target):
            raise ExpressionError(f"The resource '{target}' is not defined in the template.")
        resource_id = target
    elif ctx.deployed is None or not ctx.deployed(resource_id):
        raise NeedsReference(resource_id)
    if ctx.reference is None:
        raise NeedsReference(resource_id)  # no reader yet: evaluated when the caller supplies one
    is_full = isinstance(full, str) and full.lower() == "full"
    return ctx.reference(resource_id, api_version, is_full)


@fn(
    "resourceGroups",
    "listKeys",
    "listSecrets",
    "pickZones",
    "providers",
    "managementGroup",
    "managementGroupResourceId",
)
def _unsupported(ctx, *args):
    raise ExpressionError("This template function is not supported by this service.")
