"""Running a template deployment (F20, issue 15): the state machine behind ``Microsoft.Resources/deployments``,
shared by the API (``galleries.api.deployments``), the portal's "Deploy a custom template" page, the beat
task and the what-if.

A deployment is a row (``TemplateDeployment``) plus its template and parameter values; it runs as the
principal who started it. ``start`` checks everything that can be checked up front (write on the scope,
the body, the template through the engine ``galleries.arm.expand``: a bad template is ``InvalidTemplate``
before anything exists), stores the row and advances it once. ``advance`` does what can be done now:
each batch of the plan in order, each resource through its type's handler — for galleries, definitions
and versions the API's own PUT code (``views._Item.apply``: the same body parsing, service call, write
check on the parent and activity-log entry) — and waits while a resource is still provisioning (an image
version replicating). It is called again by every poll of the deployment and by the beat task
``advance-template-deployments``, so a deployment outlives the request that started it and needs nobody
to watch it. A resource failing leaves the ones already deployed, as ARM does; later batches are not
started and the deployment is ``Failed`` with ``DeploymentFailed`` and one detail per failed resource.

The parameter values (secure ones included) are kept encrypted (Fernet, keyed from ``SECRET_KEY``) while
the deployment runs, because every advance re-expands the template with them; they are cleared when it
ends. Plans are re-expanded with the values the first expansion resolved, so ``utcNow()`` and
``newGuid()`` defaults do not change between advances.

``Complete`` mode: once every template resource succeeded, the resources of the group that the template
does not name are deleted through their services (versions first; a version's replicas are removed by the
region workers, and the deployment waits for them), each deletion one more operation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import access
from accounts.activity import ActivityLogEntry, Caller
from accounts.models import ResourceGroup, Subscription
from accounts.roles import Action
from portal.core.errors import ServiceError

from .. import services
from ..arm.evaluator import Scope
from ..arm.expand import Plan, PlannedResource, arm_type, expand, flatten
from ..models import Gallery, GalleryImage, GalleryImageVersion, TemplateDeployment
from .arm import iso
from .deploying_handlers import SCOPE_HANDLERS, Outcome, check_scopes, scope_type
from .views import VERSIONS, DefinitionItem, GalleryItem, VersionItem

log = logging.getLogger(__name__)
DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
State = TemplateDeployment.State
RUNNING_STATES = (State.ACCEPTED, State.RUNNING)
_KEYS = {"galleries": "gallery", "images": "image", "versions": "version"}
_PROPERTIES = {"template", "parameters", "mode"}
_PS = GalleryImageVersion.ProvisioningState
DEPLOYMENT_FAILED = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)


# --- the request stand-in: the API's item views, run on a deployment's behalf ---------------------------


class _OnBehalf:
    """What the API's item views read of a request (``user``, ``_request.META``, ``query_params``), for
    work done as the deployment's principal — in the PUT, a later poll by someone else or the beat task."""

    def __init__(self, principal, client_ip: str | None):
        self.user = principal
        self._request = self
        self.META = {"REMOTE_ADDR": client_ip}
        self.query_params = {}


def _kw(resource_id: str) -> dict:
    """``{sub, rg, gallery, image, version}`` of a gallery resource's id."""
    parts = resource_id.strip("/").split("/")
    kw = {"sub": parts[1], "rg": parts[3]}
    for i in range(6, len(parts) - 1, 2):
        kw[_KEYS[parts[i].lower()]] = parts[i + 1]
    return kw


def type_of(resource_id: str) -> str:
    """The ARM type of a resource id under a resource group (``Microsoft.Compute/galleries/images``),
    of a resource group or of a role assignment."""
    if scope_type(resource_id):
        return scope_type(resource_id)
    parts = resource_id.strip("/").split("/")
    if len(parts) < 8 or parts[4].lower() != "providers":
        return ""
    return "/".join([parts[5], *parts[6:-1:2]])


class GalleryHandler:
    """Galleries, definitions and versions: the API's own PUT and GET code for the type."""

    def __init__(self, view_class, long_running: bool = False):
        self.view_class = view_class
        self.long_running = long_running

    def view(self, runner: Runner, api_version: str | None):
        view = self.view_class()
        view.request, view.args, view.kwargs = runner.request, (), {}
        view.api_version = api_version or VERSIONS[-1]
        return view

    def read(self, runner: Runner, resource_id: str, api_version: str | None) -> dict | None:
        """The resource as the API's GET renders it, through the access filter (None: not there)."""
        view = self.view(runner, api_version)
        obj = view.find(**_kw(resource_id))
        return None if obj is None else view.render(obj)

    def apply(self, runner: Runner, resource: PlannedResource, body: dict) -> Outcome:
        obj, _created = self.view(runner, resource.api_version).apply(body, **_kw(resource.id))
        if self.long_running:
            return self.status(runner, resource.id)
        del obj
        return Outcome("Succeeded")

    def status(self, runner: Runner, resource_id: str) -> Outcome:
        """A long-running resource's progress: an image version's provisioning state."""
        row = (
            GalleryImageVersion.objects.filter(arm_key=resource_id.lower())
            .values_list("provisioning_state", flat=True)
            .first()
        )
        if row is None:
            return Outcome(
                "Failed", ServiceError.not_found(f"The resource '{resource_id}' is gone.").as_arm()["error"]
            )
        if row == _PS.SUCCEEDED:
            return Outcome("Succeeded")
        if row == _PS.FAILED:
            return Outcome(
                "Failed",
                {
                    "code": "ReplicationFailed",
                    "message": f"The image version '{resource_id}' failed to replicate; its replication "
                    "status names the region.",
                },
            )
        return Outcome("Running")


#: The resource types a deployment can create (lower-case type → handler). More register here.
HANDLERS: dict = {
    Gallery.ARM_TYPE.lower(): GalleryHandler(GalleryItem),
    GalleryImage.ARM_TYPE.lower(): GalleryHandler(DefinitionItem),
    GalleryImageVersion.ARM_TYPE.lower(): GalleryHandler(VersionItem, long_running=True),
    **SCOPE_HANDLERS,  # resource groups, role assignments (deploying_handlers)
}


def _api_versions(resource_type: str):
    handler = HANDLERS.get(resource_type.lower())
    if handler is None:
        return None
    return getattr(handler, "api_versions", VERSIONS)


class Runner:
    """Plans and applies as one principal."""

    def __init__(self, principal, client_ip: str | None = None):
        self.principal = principal
        self.request = _OnBehalf(principal, client_ip)

    @property
    def caller(self) -> Caller:
        return Caller(
            principal=self.principal,
            source=ActivityLogEntry.Source.API,
            client_ip=self.request.META["REMOTE_ADDR"],
        )

    def handler(self, resource_type: str):
        return HANDLERS.get(resource_type.lower())

    def read(self, resource_id: str, api_version: str | None = None) -> dict | None:
        handler = self.handler(type_of(resource_id))
        return None if handler is None else handler.read(self, resource_id, api_version)

    def reader(self, resource_id: str, api_version: str | None, full: bool):
        """``reference()``: the resource as the API's GET renders it, through the access filter."""
        body = self.read(resource_id, api_version)
        if body is None:
            raise ServiceError.not_found(f"The resource '{resource_id}' was not found.")
        return body if full else body.get("properties", {})

    def plan(
        self, target: ResourceGroup | Subscription, name: str, spec: dict, location: str | None = None
    ) -> Plan:
        return check_scopes(
            expand(
                spec["template"],
                spec["parameters"],
                scope_of(target, name, location),
                _api_versions,
                self.reader,
            )
        )


def scope_of(target: ResourceGroup | Subscription, name: str, location: str | None = None) -> Scope:
    if isinstance(target, ResourceGroup):
        return Scope(
            subscription_id=str(target.subscription.guid),
            tenant_id=_tenant(target.subscription),
            subscription_name=target.subscription.display_name,
            resource_group=target.name,
            location=target.location.name if target.location_id else None,
            resource_group_tags=target.tags or {},
            deployment_name=name,
        )
    return Scope(
        subscription_id=str(target.guid),
        tenant_id=_tenant(target),
        subscription_name=target.display_name,
        location=location,
        deployment_name=name,
    )


def _tenant(subscription: Subscription) -> str:
    return str(subscription.tenant.tenant_id)


# --- the body of a PUT, validate or what-if ---------------------------------------------------------------


def read_body(data, subscription_scope: bool = False, what_if: bool = False) -> dict:
    """The deployment's ``properties`` (and ``location`` at subscription scope), checked: what this API
    does not implement is refused, naming the property. ``what_if``: also ``properties.whatIfSettings``
    (``DeploymentWhatIfProperties``), read into ``result_format``."""
    if not isinstance(data, dict):
        raise ServiceError.invalid("body", "The request body must be a JSON object.")
    allowed_top = {"properties", "location"} if subscription_scope else {"properties"}
    for key in data:
        if key not in allowed_top:
            where = "a subscription" if subscription_scope else "a resource-group"
            raise ServiceError.invalid(
                key,
                f"The property '{key}' is not supported on {where} deployment here ({', '.join(sorted(allowed_top))}).",
            )
    props = data.get("properties")
    if not isinstance(props, dict):
        raise ServiceError.invalid("properties", "The deployment's properties are required (an object).")
    if "templateLink" in props or "parametersLink" in props:
        key = "templateLink" if "templateLink" in props else "parametersLink"
        raise ServiceError.invalid(
            f"properties.{key}", f"'{key}' is not supported here: send the template and parameters inline."
        )
    known = _PROPERTIES | {"whatIfSettings"} if what_if else _PROPERTIES
    for key in props:
        if key not in known:
            raise ServiceError.invalid(
                f"properties.{key}",
                f"The property '{key}' is not supported on a deployment here ({', '.join(sorted(known))}).",
            )
    if not isinstance(props.get("template"), dict):
        raise ServiceError.invalid("properties.template", "The template is required (an object).")
    mode = props.get("mode", "Incremental")
    modes = (
        {"incremental": "Incremental"}
        if subscription_scope
        else {"incremental": "Incremental", "complete": "Complete"}
    )
    if not isinstance(mode, str) or mode.lower() not in modes:
        raise ServiceError.invalid(
            "properties.mode",
            f"The deployment mode '{mode}' is not supported here: {' or '.join(modes.values())}"
            + (" (ARM allows only Incremental at subscription scope)." if subscription_scope else "."),
        )
    parameters = props.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise ServiceError.invalid("properties.parameters", "The parameters must be an object.")
    location = data.get("location")
    if subscription_scope and (not isinstance(location, str) or not location):
        raise ServiceError.invalid(
            "location", "A subscription-scope deployment needs a 'location' (where its data is kept)."
        )
    spec = {
        "template": props["template"],
        "parameters": parameters,
        "mode": modes[mode.lower()],
        "location": location,
    }
    if what_if:
        spec["result_format"] = _result_format(props.get("whatIfSettings"))
    return spec


def _result_format(settings_) -> str:
    """``whatIfSettings.resultFormat`` (``WhatIfResultFormat``, matched without case as the SDK's enum)."""
    formats = {"fullresourcepayloads": "FullResourcePayloads", "resourceidonly": "ResourceIdOnly"}
    if settings_ is None:
        return formats["fullresourcepayloads"]
    if not isinstance(settings_, dict):
        raise ServiceError.invalid("properties.whatIfSettings", "The what-if settings must be an object.")
    for key in settings_:
        if key != "resultFormat":
            raise ServiceError.invalid(
                f"properties.whatIfSettings.{key}",
                f"The what-if setting '{key}' is not supported here (resultFormat).",
            )
    value = settings_.get("resultFormat") or "FullResourcePayloads"
    if not isinstance(value, str) or value.lower() not in formats:
        raise ServiceError.invalid(
            "properties.whatIfSettings.resultFormat",
            f"The result format '{value}' is not one of: {', '.join(formats.values())}.",
        )
    return formats[value.lower()]


# --- what is shown ---------------------------------------------------------------------------------------


def public_parameters(plan: Plan, supplied: dict) -> dict:
    """The parameters as ARM shows them: each with its type and value, secure ones without a value."""
    if isinstance(supplied.get("parameters"), dict) and "$schema" in supplied:
        supplied = supplied["parameters"]
    out = {}
    for name, value in plan.parameters.items():
        secure = name in plan.secure_parameters
        declared = next((k for k in supplied if k.lower() == name.lower()), name)
        out[declared] = {"type": arm_type(value, secure)}
        if not secure:
            out[declared]["value"] = value
    return out


def dependencies(plan: Plan) -> list:
    out = []
    for r in plan.resources:
        if r.depends_on:
            out.append(
                {
                    "id": r.id,
                    "resourceType": r.type,
                    "resourceName": r.name,
                    "dependsOn": [
                        {
                            "id": d,
                            "resourceType": plan.resource(d).type,
                            "resourceName": plan.resource(d).name,
                        }
                        for d in r.depends_on
                    ],
                }
            )
    return out


def scope_id(d_or_target) -> str:
    target = d_or_target
    if isinstance(d_or_target, TemplateDeployment):
        target = d_or_target.resource_group or d_or_target.subscription
    if isinstance(target, ResourceGroup):
        return target.arm_id
    return f"/subscriptions/{target.guid}"


def deployment_id(target, name: str) -> str:
    return f"{scope_id(target)}/providers/{DEPLOYMENT_TYPE}/{name}"


def body(d: TemplateDeployment) -> dict:
    """A deployment in ARM's ``DeploymentExtended`` shape."""
    props = {
        "provisioningState": d.state,
        "timestamp": iso(d.finished_at or d.started_at),
        "duration": _duration(d),
        "mode": d.mode,
        "parameters": d.parameters,
        "dependencies": d.dependencies,
        "providers": _providers(d.operations),
        "correlationId": str(uuid.UUID(d.operation_id)) if _is_guid(d.operation_id) else None,
    }
    if d.state == State.SUCCEEDED:
        props["outputs"] = d.outputs
        props["outputResources"] = [
            {"id": op["id"]}
            for op in d.operations
            if op["status"] == "Succeeded" and op.get("action") != "Delete"
        ]
    if d.error:
        props["error"] = d.error
    out = {
        "id": deployment_id(d, d.name),
        "name": d.name,
        "type": DEPLOYMENT_TYPE,
        "properties": {k: v for k, v in props.items() if v is not None},
    }
    if d.resource_group_id is None:
        out["location"] = d.location
    return out


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError):
        return False
    return True


def _duration(d: TemplateDeployment) -> str:
    seconds = ((d.finished_at or timezone.now()) - d.started_at).total_seconds()
    return f"PT{seconds:.7f}S"


def _providers(operations: list) -> list:
    types: dict[str, set] = {}
    for op in operations:
        namespace, _, rest = op["type"].partition("/")
        types.setdefault(namespace, set()).add(rest)
    return [
        {"namespace": ns, "resourceTypes": [{"resourceType": t} for t in sorted(ts)]}
        for ns, ts in types.items()
    ]


def operation(d: TemplateDeployment, op: dict) -> dict:
    """One deployment operation in ARM's ``DeploymentOperation`` shape."""
    status = op["status"]
    code = op.get("statusCode")
    if code is None and status == "Succeeded":
        code = "OK" if op.get("action") == "Delete" else "Created"
    props = {
        "provisioningOperation": op.get("action", "Create"),
        "provisioningState": status,
        "timestamp": op["timestamp"],
        "duration": op.get("duration"),
        "statusCode": code,
        "targetResource": {"id": op["id"], "resourceType": op["type"], "resourceName": op["name"]},
    }
    if op.get("error"):
        props["statusMessage"] = {"error": op["error"]}
    return {
        "id": f"{deployment_id(d, d.name)}/operations/{op['operationId']}",
        "operationId": op["operationId"],
        "properties": {k: v for k, v in props.items() if v is not None},
    }


# --- secrets at rest -------------------------------------------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"template-deployment-values:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(values: dict) -> str:
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def _unseal(text: str) -> dict:
    try:
        return json.loads(_fernet().decrypt(text.encode()))
    except (InvalidToken, ValueError):
        raise ServiceError(
            "DeploymentFailed",
            "The deployment's parameter values can no longer be read (the portal's SECRET_KEY changed "
            "while it ran); deploy it again.",
        ) from None


# --- starting, advancing, cancelling -------------------------------------------------------------------


def validate(principal, target, name: str, data) -> dict:
    """``POST …/validate``: the checks of a PUT, nothing created; the ``DeploymentValidateResult`` body."""
    spec = _checked(principal, target, data, name)
    plan = Runner(principal).plan(target, name, spec, spec["location"])
    props = {
        "provisioningState": "Succeeded",
        "mode": spec["mode"],
        "parameters": public_parameters(plan, spec["parameters"]),
        "dependencies": dependencies(plan),
        "validatedResources": [{"id": r.id} for r in plan.resources],
    }
    out = {"id": deployment_id(target, name), "name": name, "type": DEPLOYMENT_TYPE, "properties": props}
    if not isinstance(target, ResourceGroup):
        out["location"] = spec["location"]
    return out


#: ARM's deployment name (resources.json, ``deploymentName``: ``^[-\w\._\(\)]+$``, 1 to 64 characters).
_NAME = re.compile(r"[-\w._()]{1,64}")


def check_name(name) -> str:
    """A deployment's name as ARM allows it, else 400 naming ``name`` and the rule."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ServiceError.invalid(
            "name",
            "The deployment name may hold only letters, digits, '-', '_', '.', '(' and ')', 1 to 64 "
            "characters (ARM's deploymentName).",
        )
    return name


def _checked(principal, target, data, name: str) -> dict:
    """Write on the scope for ``Microsoft.Resources/deployments`` (403 otherwise), then the name and
    the body."""
    access.require(principal, Action.WRITE, target, DEPLOYMENT_TYPE)
    check_name(name)
    return read_body(data, subscription_scope=not isinstance(target, ResourceGroup))


def rows(target):
    if isinstance(target, ResourceGroup):
        return TemplateDeployment.objects.filter(resource_group=target)
    return TemplateDeployment.objects.filter(subscription=target, resource_group__isnull=True)


def find(target, name: str) -> TemplateDeployment:
    d = rows(target).filter(name__iexact=name).select_related("resource_group", "subscription").first()
    if d is None:
        raise ServiceError.not_found(f"Deployment '{name}' could not be found.")
    return d


def start(
    principal, target, name: str, data, client_ip: str | None = None
) -> tuple[TemplateDeployment, bool]:
    """PUT: check, record, advance once. Answers ``(deployment, replaced)``."""
    spec = _checked(principal, target, data, name)
    runner = Runner(principal, client_ip)
    plan = runner.plan(target, name, spec, spec["location"])  # InvalidTemplate before anything is created
    if rows(target).filter(name__iexact=name, state__in=RUNNING_STATES).exists():
        raise ServiceError.conflict(f"The deployment '{name}' is still running; cancel it or wait.")
    group = target if isinstance(target, ResourceGroup) else None
    subscription = target.subscription if group else target
    try:
        with transaction.atomic():
            replaced, _ = rows(target).filter(name__iexact=name).delete()
            d = TemplateDeployment.objects.create(
                name=name,
                operation_id=str(uuid.uuid4()),
                subscription=subscription,
                resource_group=group,
                location=spec["location"] or "",
                principal=principal,
                client_ip=client_ip,
                template=spec["template"],
                parameters=public_parameters(plan, spec["parameters"]),
                values=_seal(plan.parameters),
                mode=spec["mode"],
                state=State.RUNNING,
                dependencies=dependencies(plan),
            )
    except IntegrityError:
        raise ServiceError.conflict(f"The deployment '{name}' is being created by another request.") from None
    advance(d, runner=runner, plan=plan)
    d.refresh_from_db()
    return d, bool(replaced)


def cancel(principal, d: TemplateDeployment) -> None:
    """``POST …/cancel``: a running deployment stops before its next resource; what is deployed stays."""
    access.require(principal, Action.WRITE, d.resource_group or d.subscription, DEPLOYMENT_TYPE)
    with transaction.atomic():
        row = TemplateDeployment.objects.select_for_update().get(pk=d.pk)
        if row.state not in RUNNING_STATES:
            raise ServiceError.conflict(
                f"The deployment '{d.name}' is {row.state}: only an accepted or running deployment can be canceled.",
            )
        row.state = State.CANCELED
        row.values = ""
        row.finished_at = timezone.now()
        row.error = {"code": "DeploymentCanceled", "message": f"The deployment '{d.name}' was canceled."}
        row.save(update_fields=["state", "values", "finished_at", "error"])


def advance(
    d: TemplateDeployment, runner: Runner | None = None, plan: Plan | None = None
) -> TemplateDeployment:
    """Do what can be done now; the deployment's row says how far it got."""
    if d.state not in RUNNING_STATES:
        return d
    with transaction.atomic():
        d = (  # of=self: the group is the nullable side of an outer join, which PostgreSQL will not lock
            TemplateDeployment.objects.select_for_update(of=("self",))
            .select_related("resource_group", "subscription")
            .get(pk=d.pk)
        )
        if d.state not in RUNNING_STATES:
            return d
        try:
            if d.principal is None or not d.principal.is_active:
                raise ServiceError.forbidden(
                    "The principal who started the deployment no longer exists or is disabled."
                )
            runner = runner or Runner(d.principal, d.client_ip)
            target = d.resource_group or d.subscription
            spec = {
                "template": d.template,
                "parameters": {k: {"value": v} for k, v in _unseal(d.values).items()},
            }
            plan = plan or runner.plan(target, d.name, spec, d.location or None)
            _Run(d, runner).go(plan)
        except ServiceError as exc:
            _finish(
                d,
                State.FAILED,
                {"code": "DeploymentFailed", "message": exc.message, "details": [exc.as_arm()["error"]]},
            )
        d.save()
    return d


def advance_all() -> int:
    """The beat task's work: advance every running deployment; answers how many are still running. One
    deployment's unexpected error is logged and does not stop the others."""
    running = 0
    for d in TemplateDeployment.objects.filter(state__in=RUNNING_STATES).order_by("pk"):
        try:
            d = advance(d)
        except Exception:  # noqa: BLE001 — logged with its traceback; the next beat tries again
            log.exception("Advancing template deployment %s failed", d.pk)
        if d.state in RUNNING_STATES:
            running += 1
    return running


def _finish(d: TemplateDeployment, state: str, error: dict | None = None) -> None:
    d.state = state
    d.error = error
    d.values = ""
    d.finished_at = timezone.now()


class _Run:
    """One advance of one deployment: walks the plan, starting what may start and checking what runs."""

    def __init__(self, d: TemplateDeployment, runner: Runner):
        self.d = d
        self.runner = runner
        self.ops = {op["id"].lower(): op for op in d.operations}

    def go(self, plan: Plan) -> None:
        status = self.plan(plan)
        if status == "Running":
            return
        if status == "Succeeded" and self.d.mode == "Complete":
            status = self.complete(plan)
            if status == "Running":
                return
        failed = [op for op in self.d.operations if op["status"] == "Failed"]
        if failed:
            details = [_failure(op) for op in failed]
            _finish(
                self.d,
                State.FAILED,
                {"code": "DeploymentFailed", "message": DEPLOYMENT_FAILED, "details": details},
            )
            return
        self.d.outputs = plan.outputs(self.runner.reader)
        _finish(self.d, State.SUCCEEDED)

    def plan(self, plan: Plan) -> str:
        """``Succeeded`` when every resource of ``plan`` is, ``Failed`` once a batch ended with a failure,
        else ``Running``."""
        for batch in plan.batches:
            statuses = [self.resource(plan.resource(rid)) for rid in batch]
            if "Running" in statuses:
                return "Running"
            if "Failed" in statuses:
                return "Failed"
        return "Succeeded"

    def resource(self, resource: PlannedResource) -> str:
        if resource.nested is not None:
            status = self.plan(resource.nested)
            op = self.op(resource)
            if op["status"] != status:
                op["status"] = status
                op["timestamp"] = iso(timezone.now())
                if status == "Failed":
                    op["error"] = {"code": "DeploymentFailed", "message": DEPLOYMENT_FAILED}
            return status
        op = self.ops.get(resource.id.lower())
        handler = self.runner.handler(resource.type)
        if op is None:
            op = self.op(resource)
            try:
                outcome = handler.apply(self.runner, resource, resource.resolve(self.runner.reader))
            except ServiceError as exc:
                outcome = Outcome("Failed", exc.as_arm()["error"])
                op["statusCode"] = _status_name(exc.status)
            self.record(op, outcome)
        elif op["status"] == "Running":
            self.record(op, handler.status(self.runner, resource.id))
        return op["status"]

    def op(self, resource: PlannedResource) -> dict:
        return self.ops.get(resource.id.lower()) or self.new_op(resource.id, resource.type, resource.name)

    def new_op(self, resource_id: str, resource_type: str, name: str, action: str = "Create") -> dict:
        op = {
            "id": resource_id,
            "type": resource_type,
            "name": name,
            "action": action,
            "status": "Running",
            "error": None,
            "timestamp": iso(timezone.now()),
            "operationId": uuid.uuid4().hex[:16].upper(),
        }
        self.ops[resource_id.lower()] = op
        self.d.operations.append(op)
        return op

    def record(self, op: dict, outcome: Outcome) -> None:
        if (outcome.status, outcome.error) == (op["status"], op["error"]):
            return
        op["status"] = outcome.status
        op["error"] = outcome.error
        op["timestamp"] = iso(timezone.now())

    def complete(self, plan: Plan) -> str:
        """Complete mode: delete what the group holds and the template does not name, versions first,
        then definitions, then galleries, each one more operation (``Delete``). Running while a deleted
        version's replicas are being removed (its row goes when the region workers are done); a refused
        deletion fails its operation (and so the deployment)."""
        named = {r.id.lower() for r in flatten(plan)}
        group = self.d.resource_group
        caller = self.runner.caller
        for model, delete in (
            (GalleryImageVersion, services.delete_version),
            (GalleryImage, services.delete_definition),
            (Gallery, services.delete_gallery),
        ):
            pending = False
            for obj in model.objects.filter(resource_group_id=group.pk).order_by("-pk"):
                key = obj.arm_key
                if named_or_parent(key, named):
                    continue  # in the template, or the parent of something that is
                op = self.ops.get(key) or self.new_op(
                    obj.arm_id, model.ARM_TYPE, _name_of(obj.arm_id), "Delete"
                )
                if op["status"] != "Running":
                    continue
                if model is GalleryImageVersion and obj.provisioning_state == _PS.DELETING:
                    pending = True  # its replicas are being removed
                    continue
                try:
                    delete(caller, obj)
                except ServiceError as exc:
                    self.record(op, Outcome("Failed", exc.as_arm()["error"]))
                    op["statusCode"] = _status_name(exc.status)
                    continue
                if model.objects.filter(pk=obj.pk).exists():
                    pending = True
                else:
                    self.record(op, Outcome("Succeeded"))
            if pending:
                return "Running"
        for op in self.d.operations:  # versions whose replicas the workers removed since the last advance
            if op.get("action") == "Delete" and op["status"] == "Running":
                if not GalleryImageVersion.objects.filter(arm_key=op["id"].lower()).exists():
                    self.record(op, Outcome("Succeeded"))
        return "Succeeded"


def _failure(op: dict) -> dict:
    """One detail of ``DeploymentFailed``: the resource's id as the target, the service's error as the
    code and message, and that error whole (with its own target, the property) as the inner detail."""
    error = op["error"] or {"code": "ResourceDeploymentFailure", "message": "The resource operation failed."}
    out = {"code": error.get("code"), "target": op["id"], "message": error.get("message")}
    if error.get("target") or error.get("details"):
        out["details"] = [error]
    return out


def named_or_parent(key: str, named: set) -> bool:
    """Complete mode keeps a resource of the group (lower-case id ``key``) that the template names, or
    that is the parent of one it names."""
    return key in named or any(n.startswith(key + "/") for n in named)


def _name_of(resource_id: str) -> str:
    """ARM's ``resourceName`` of a resource id: its names joined by ``/`` (``g2/d2/1.0.0``)."""
    parts = resource_id.strip("/").split("/providers/", 1)[1].split("/")
    return "/".join(parts[2::2])


def _status_name(status: int) -> str:
    return {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(status, str(status))
