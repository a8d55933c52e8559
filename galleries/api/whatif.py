"""What-if of a template deployment (issue 15): ``Deployments_WhatIf`` and
``Deployments_WhatIfAtSubscriptionScope`` of resources.json 2025-04-01, without the HTTP (the API's views in
``galleries.api.deployments`` and the portal call ``what_if``).

The template is checked and expanded as a PUT would (``galleries.api.deploying``: write on the scope,
the body, ``Runner.plan``); nothing is created. Each resource of the plan (those of nested deployments
flattened in) is compared with what the API's GET renders of it now (``Runner.read``, at the template's
api-version, through the access filter):

- not there (or not readable): ``Create``, with ``after`` the template's body;
- there: ``NoChange`` or ``Modify``. Only what the template sets is compared, each property through the
  type's own parser (``view.parse(body, partial=True)``, the one a PUT uses), so that what the API stores
  the same way compares equal: ``"1"`` and ``1``, ``2030-01-01`` and ``2030-01-01T00:00:00Z``; the values
  the service matches without case (enums, regions, ids) compare without case; what the parser ignores
  (read-only properties: ``provisioningState``...) is never a change. A PUT replaces the tags: a template
  without tags on a resource that has some is a ``Delete`` of ``tags``. ``after`` is ``before`` with the
  changes applied (the properties the service fills in stay), ``delta`` one entry per changed property
  (``Create``, ``Delete``, ``Modify``; a list that differs is ``Array`` with one child per index);
- there, but its body needs ``reference()`` of something the deployment has not made yet: ``Deploy`` (it
  is deployed; what changes cannot be told before);
- a type without a handler: ``Unsupported`` (the engine refuses those before, so it should not happen).

``Complete`` mode (resource-group scope): the galleries, definitions and versions of the group the
template does not name (nor is the parent of one it names) are ``Delete``, as the deployment would
delete them. ``properties.whatIfSettings.resultFormat``: ``FullResourcePayloads`` (the default) or
``ResourceIdOnly`` (each change its ``resourceId`` and ``changeType`` only).

The result is computed within the POST and kept (``WhatIfResult``) for ``RESULT_MAX_AGE`` so that the
operation's ``Location`` answers it to the principal who asked.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import uuid

from django.utils import timezone

from accounts import access
from accounts.models import ResourceGroup
from accounts.roles import Action
from portal.core.errors import ServiceError

from ..arm.expand import PlannedResource, flatten
from ..models import Gallery, GalleryImage, GalleryImageVersion, WhatIfResult
from . import deploying

#: How long a what-if's result stays readable at its Location.
RESULT_MAX_AGE = datetime.timedelta(hours=1)
FULL = "FullResourcePayloads"
ID_ONLY = "ResourceIdOnly"
#: Values the service matches without case (``check_choice``, region names, resource ids), by the key
#: of the parsed value or the last segment of the property's path.
_CASELESS = {
    "location",
    "os_type",
    "os_state",
    "hyper_v_generation",
    "disallowed_disk_types",
    "storage_account_type",
    "source",
    "name",
    "osType",
    "osState",
    "hyperVGeneration",
    "diskTypes",
    "storageAccountType",
    "id",
}
#: Keys of a resource's body that are not the resource's properties.
_NOT_COMPARED = {"id", "name", "type", "apiVersion"}


def what_if(principal, target, name: str, data) -> dict:
    """The ``WhatIfOperationResult`` of deploying ``data`` (a PUT's body, plus an optional
    ``properties.whatIfSettings``) as ``name`` to ``target`` (a resource group or a subscription) as
    ``principal``: ``{"status": "Succeeded", "properties": {"changes": [...]}}``. Refusals are the PUT's
    (403 without write on the scope, 400 for the body, ``InvalidTemplate``)."""
    access.require(principal, Action.WRITE, target, deploying.DEPLOYMENT_TYPE)
    deploying.check_name(name)
    spec = deploying.read_body(data, subscription_scope=not isinstance(target, ResourceGroup), what_if=True)
    runner = deploying.Runner(principal)
    plan = runner.plan(target, name, spec, spec["location"])
    changes = [_change(runner, r) for r in flatten(plan) if r.nested is None]
    if spec["mode"] == "Complete" and isinstance(target, ResourceGroup):
        named = {r.id.lower() for r in flatten(plan)}
        changes += _deletions(runner, target, named)
    if spec["result_format"] == ID_ONLY:
        changes = [
            {k: v for k, v in c.items() if k in ("resourceId", "changeType", "unsupportedReason")}
            for c in changes
        ]
    return {"status": "Succeeded", "properties": {"changes": changes}}


# --- one resource ------------------------------------------------------------------------------------


def _change(runner: deploying.Runner, resource: PlannedResource) -> dict:
    handler = runner.handler(resource.type)
    if handler is None:
        return {
            "resourceId": resource.id,
            "changeType": "Unsupported",
            "unsupportedReason": f"The resource type '{resource.type}' is not one this API deploys.",
        }
    before = runner.read(resource.id, resource.api_version)
    if before is not None:
        before = {"apiVersion": resource.api_version, **before}
    try:
        body = resource.resolve(runner.reader)
    except ServiceError:
        body = None  # reference() of a resource this deployment has yet to make
    if before is None:
        after = {
            "id": resource.id,
            "name": resource.name,
            "type": resource.type,
            "apiVersion": resource.api_version,
        }
        after.update({k: v for k, v in (body or {}).items() if k not in _NOT_COMPARED and v is not None})
        return {"resourceId": resource.id, "changeType": "Create", "after": after}
    if body is None:
        return {"resourceId": resource.id, "changeType": "Deploy", "before": before}
    view = handler.view(runner, resource.api_version)
    wanted = {k: v for k, v in body.items() if k not in _NOT_COMPARED}
    if wanted.get("tags") is None:
        wanted["tags"] = {}  # a PUT replaces the tags
    delta, after = _compare("", before, wanted, _Same(view))
    change = {"resourceId": resource.id, "changeType": "Modify" if delta else "NoChange", "before": before}
    change["after"] = after
    if delta:
        change["delta"] = delta
    return change


def _deletions(runner: deploying.Runner, group: ResourceGroup, named: set) -> list[dict]:
    """Complete mode: what the deployment would delete (``deploying.named_or_parent`` decides, as it
    does for the deployment)."""
    out = []
    for model in (GalleryImageVersion, GalleryImage, Gallery):
        for obj in model.objects.filter(resource_group_id=group.pk).order_by("pk"):
            if deploying.named_or_parent(obj.arm_key, named):
                continue
            change = {"resourceId": obj.arm_id, "changeType": "Delete"}
            before = runner.read(obj.arm_id)
            if before is not None:
                change["before"] = before
            out.append(change)
    return out


# --- the comparison ----------------------------------------------------------------------------------


class _Same:
    """Does the template's value of a property ask for what the resource has? Through the type's
    parser: both values, each alone in a partial body, parse to the same service-layer change."""

    def __init__(self, view):
        self.view = view

    def __call__(self, path: str, before, wanted) -> bool:
        if _plain(before, path) == _plain(wanted, path):
            return True
        if before is None and wanted in ("", [], {}):
            return True  # the API renders an empty value as absent
        if isinstance(wanted, list) and _within(before, wanted, path):
            return True  # each element asks only for what the element has (the service fills in the rest)
        try:
            now = self.view.parse(_wrap(path, before), partial=True)
            then = self.view.parse(_wrap(path, wanted), partial=True)
        except ServiceError:
            return False  # a value the PUT would refuse: shown as a change (the deployment fails there)
        return _canon(now) == _canon(then)


def _within(before, wanted, path: str) -> bool:
    """Is every value ``wanted`` sets (a list's elements' keys included) what ``before`` has?"""
    if isinstance(wanted, dict):
        return isinstance(before, dict) and all(
            v is None or _within(before.get(k), v, k) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(before, list)
            and len(before) == len(wanted)
            and all(_within(b, w, path) for b, w in zip(before, wanted, strict=True))
        )
    if isinstance(wanted, str) and isinstance(before, int) and not isinstance(before, bool):
        return wanted.strip() == str(before)  # a whole number sent as text, as the parsers read it
    return _plain(before, path) == _plain(wanted, path)


def _wrap(path: str, value) -> dict:
    out = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


#: Keys whose values may be a region, which the API matches by name or display name (``westeurope`` is
#: ``West Europe``): a location, and a target region's ``name`` (no other name may hold a space).
_REGIONS = {"location", "name"}


def _plain(value, path: str = ""):
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, str) and leaf in _CASELESS:
        return value.casefold().replace(" ", "") if leaf in _REGIONS else value.casefold()
    return value


def _canon(value, key: str = ""):
    """A parsed change, comparable: dataclasses as dicts, caseless strings folded, dates as instants."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _canon(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v, key) for v in value]
    if isinstance(value, str) and key in _CASELESS:
        return value.casefold().replace(" ", "") if key in _REGIONS else value.casefold()
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _compare(path: str, before, wanted, same: _Same) -> tuple[list, object]:
    """``(delta, after)`` of the template's ``wanted`` over ``before`` at ``path``."""
    if isinstance(wanted, dict) and isinstance(before, dict) and path != "tags":
        delta, after = [], dict(before)
        for key, value in wanted.items():
            if value is None:
                continue  # a null asks for nothing
            d, a = _compare(_join(path, key), before.get(key), value, same)
            delta += d
            after[key] = a
        return delta, after
    if same(path, before, wanted):
        return [], before
    if before is None or before == {}:
        return [{"path": path, "propertyChangeType": "Create", "after": wanted}], wanted
    if wanted == {} and path == "tags":
        return [{"path": path, "propertyChangeType": "Delete", "before": before}], wanted
    if isinstance(before, list) and isinstance(wanted, list):
        children = _array(before, wanted)
        if children:
            return [{"path": path, "propertyChangeType": "Array", "children": children}], wanted
    return [{"path": path, "propertyChangeType": "Modify", "before": before, "after": wanted}], wanted


def _array(before: list, wanted: list) -> list:
    out = []
    for i in range(max(len(before), len(wanted))):
        if i >= len(before):
            out.append({"path": str(i), "propertyChangeType": "Create", "after": wanted[i]})
        elif i >= len(wanted):
            out.append({"path": str(i), "propertyChangeType": "Delete", "before": before[i]})
        elif before[i] != wanted[i]:
            out.append(
                {"path": str(i), "propertyChangeType": "Modify", "before": before[i], "after": wanted[i]}
            )
    return out


# --- the kept result -----------------------------------------------------------------------------------


def keep(principal, target, name: str, result: dict) -> str:
    """Keep ``result`` for the operation's Location; answers its id. Expired results go now."""
    WhatIfResult.objects.filter(created_at__lt=timezone.now() - RESULT_MAX_AGE).delete()
    row = WhatIfResult.objects.create(
        id=uuid.uuid4(),
        principal=principal,
        deployment_id=deploying.deployment_id(target, name).lower(),
        result=result,
    )
    return str(row.id)


def kept(principal, target, name: str, operation: str) -> dict:
    """The kept result of ``operation``, for the principal who asked it (404 otherwise, or once expired)."""
    try:
        key = uuid.UUID(operation)
    except ValueError:
        key = None
    row = (
        WhatIfResult.objects.filter(
            pk=key,
            principal=principal,
            deployment_id=deploying.deployment_id(target, name).lower(),
            created_at__gte=timezone.now() - RESULT_MAX_AGE,
        ).first()
        if key is not None and principal.is_authenticated
        else None
    )
    if row is None:
        raise ServiceError.not_found(f"The what-if operation '{operation}' could not be found.")
    return copy.deepcopy(row.result)
