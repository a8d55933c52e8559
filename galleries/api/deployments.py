"""``Microsoft.Resources/deployments`` at resource-group scope (F20, issue 15 part 1), as the spec's
"Deployments" operations (``specification/resources/resource-manager/Microsoft.Resources/stable/
2025-04-01/resources.json``: Deployments_CreateOrUpdate, _Get, _List (ListByResourceGroup), _Delete,
_Validate, DeploymentOperations_ListByResourceGroup).

- ``PUT …/providers/Microsoft.Resources/deployments/{name}``: ``properties.template`` (inline),
  ``properties.parameters``, ``properties.mode`` (Incremental). The template is expanded by the engine
  (``galleries.arm.expand``) first, so a bad template is ``InvalidTemplate`` (400) before anything is
  created. Deploying needs write on the resource group. Each resource then goes through the API's own
  PUT code for its type (``views._Item.apply``: the same body parsing, service call, write check on
  the parent and activity-log entry), as the caller, batch by batch. **In this slice the plan runs
  inside the PUT**: the 201 carries the final ``provisioningState`` (Succeeded or Failed), and no
  ``Azure-AsyncOperation`` is sent (ARM clients then read the state from the body). A failing
  resource fails the deployment with ``DeploymentFailed`` and one detail per failed resource; the
  resources already deployed stay, and later batches are not started (as ARM).
- Resource types: galleries and image definitions. Image versions (whose deployment must wait for
  replication) are ``InvalidResourceType`` here until the deployment runs asynchronously.
- ``GET``, list, ``DELETE`` (the record only), ``POST …/validate`` (200 with ``validatedResources``
  or 400), ``GET …/deployments/{name}/operations``.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from accounts import access
from accounts.models import ResourceGroup
from accounts.roles import Action
from portal.core.arm import page
from portal.core.errors import ServiceError

from ..arm.evaluator import Scope
from ..arm.expand import Plan, arm_type, expand
from ..models import Gallery, GalleryImage, TemplateDeployment
from .arm import iso
from .resource_groups import RESOURCES_VERSIONS
from .views import VERSIONS, ArmView, DefinitionItem, GalleryItem, resource_group_or_404

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
#: The types a deployment can create, with the API view whose PUT code it runs.
HANDLERS = {Gallery.ARM_TYPE.lower(): GalleryItem, GalleryImage.ARM_TYPE.lower(): DefinitionItem}
_KEYS = {"galleries": "gallery", "images": "image", "versions": "version"}
_PROPERTIES = {"template", "parameters", "mode"}
State = TemplateDeployment.State


def _api_versions(resource_type: str):
    return VERSIONS if resource_type.lower() in HANDLERS else None


def _kw(resource_id: str) -> dict:
    """``{sub, rg, gallery, image}`` of a gallery resource's id."""
    parts = resource_id.strip("/").split("/")
    kw = {"sub": parts[1], "rg": parts[3]}
    for i in range(6, len(parts) - 1, 2):
        kw[_KEYS[parts[i].lower()]] = parts[i + 1]
    return kw


def read_body(data) -> dict:
    """The deployment's ``properties``, checked: what this API does not implement is refused."""
    if not isinstance(data, dict):
        raise ServiceError.invalid("body", "The request body must be a JSON object.")
    for key in data:
        if key != "properties":
            raise ServiceError.invalid(
                key,
                f"The property '{key}' is not supported on a resource-group deployment here (properties).",
            )
    props = data.get("properties")
    if not isinstance(props, dict):
        raise ServiceError.invalid("properties", "The deployment's properties are required (an object).")
    if "templateLink" in props or "parametersLink" in props:
        key = "templateLink" if "templateLink" in props else "parametersLink"
        raise ServiceError.invalid(
            f"properties.{key}", f"'{key}' is not supported here: send the template and parameters inline."
        )
    for key in props:
        if key not in _PROPERTIES:
            raise ServiceError.invalid(
                f"properties.{key}",
                f"The property '{key}' is not supported on a deployment here ({', '.join(sorted(_PROPERTIES))}).",
            )
    if not isinstance(props.get("template"), dict):
        raise ServiceError.invalid("properties.template", "The template is required (an object).")
    mode = props.get("mode", "Incremental")
    if not isinstance(mode, str) or mode.lower() != "incremental":
        raise ServiceError.invalid(
            "properties.mode",
            f"The deployment mode '{mode}' is not supported here: only 'Incremental' is (Complete is not built).",
        )
    parameters = props.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise ServiceError.invalid("properties.parameters", "The parameters must be an object.")
    return {"template": props["template"], "parameters": parameters, "mode": "Incremental"}


class _Deployments(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = DEPLOYMENT_TYPE

    def group(self, sub, rg) -> ResourceGroup:
        group = resource_group_or_404(self.request.user, sub, rg)
        return ResourceGroup.objects.select_related("location", "subscription").get(pk=group.pk)

    def view(self, resource_type: str, api_version: str):
        """The API view of a type, bound to this request: its PUT code runs as this caller."""
        view = HANDLERS[resource_type.lower()]()
        view.request, view.args, view.kwargs = self.request, (), {}
        view.api_version = api_version
        return view

    def reader(self, resource_id: str, api_version: str | None, full: bool):
        """``reference()``: the resource as the API's GET renders it, through the access filter."""
        parts = resource_id.strip("/").split("/")
        resource_type = "/".join([parts[5], *parts[6:-1:2]]) if len(parts) > 7 else ""
        if resource_type.lower() not in HANDLERS:
            raise ServiceError.not_found(f"The resource '{resource_id}' was not found.")
        view = self.view(resource_type, api_version or VERSIONS[-1])
        obj = view.find(**_kw(resource_id))
        if obj is None:
            raise ServiceError.not_found(f"The resource '{resource_id}' was not found.")
        body = view.render(obj)
        return body if full else body.get("properties", {})

    def plan(self, group: ResourceGroup, name: str, spec: dict) -> Plan:
        scope = Scope(
            subscription_id=str(group.subscription.guid),
            subscription_name=group.subscription.display_name,
            resource_group=group.name,
            location=group.location.name if group.location_id else None,
            resource_group_tags=group.tags or {},
            deployment_name=name,
        )
        return expand(spec["template"], spec["parameters"], scope, _api_versions, self.reader)


def _public_parameters(plan: Plan, supplied: dict) -> dict:
    """The parameters as ARM shows them: each with its type and value, secure ones without a value."""
    out = {}
    for name, value in plan.parameters.items():
        secure = name in plan.secure_parameters
        declared = next((k for k in supplied if k.lower() == name.lower()), name)
        out[declared] = {"type": arm_type(value, secure)}
        if not secure:
            out[declared]["value"] = value
    return out


def _dependencies(plan: Plan) -> list:
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


def deployment_id(group: ResourceGroup, name: str) -> str:
    return f"{group.arm_id}/providers/{DEPLOYMENT_TYPE}/{name}"


def body(d: TemplateDeployment) -> dict:
    """A deployment in ARM's ``DeploymentExtended`` shape."""
    props = {
        "provisioningState": d.state,
        "timestamp": iso(d.finished_at or d.started_at),
        "duration": _duration(d),
        "mode": d.mode,
        "parameters": d.parameters,
        "templateHash": None,
        "dependencies": d.dependencies,
        "providers": _providers(d.operations),
        "correlationId": None,
    }
    if d.state == State.SUCCEEDED:
        props["outputs"] = d.outputs
        props["outputResources"] = [{"id": op["id"]} for op in d.operations if op["status"] == "Succeeded"]
    if d.error:
        props["error"] = d.error
    props = {k: v for k, v in props.items() if v is not None}
    return {
        "id": deployment_id(d.resource_group, d.name),
        "name": d.name,
        "type": DEPLOYMENT_TYPE,
        "properties": props,
    }


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


def _find(group: ResourceGroup, name: str) -> TemplateDeployment:
    d = TemplateDeployment.objects.filter(resource_group=group, name__iexact=name).first()
    if d is None:
        raise ServiceError.not_found(f"Deployment '{name}' could not be found.")
    return d


class DeploymentItem(_Deployments):
    def get(self, request, sub, rg, deployment):
        return Response(body(_find(self.group(sub, rg), deployment)))

    def put(self, request, sub, rg, deployment):
        name = deployment
        group = self.group(sub, rg)
        access.require(request.user, Action.WRITE, group, DEPLOYMENT_TYPE)
        spec = read_body(request.data)
        plan = self.plan(group, name, spec)  # InvalidTemplate before anything is created
        running = TemplateDeployment.objects.filter(
            resource_group=group, name__iexact=name, state__in=[State.ACCEPTED, State.RUNNING]
        )
        if running.exists():
            raise ServiceError.conflict(f"The deployment '{name}' is still running.")
        replaced, _ = TemplateDeployment.objects.filter(resource_group=group, name__iexact=name).delete()
        try:
            with transaction.atomic():
                d = TemplateDeployment.objects.create(
                    name=name,
                    operation_id=str(uuid.uuid4()),
                    resource_group=group,
                    principal=request.user,
                    template=spec["template"],
                    parameters=_public_parameters(plan, spec["parameters"]),
                    state=State.RUNNING,
                    dependencies=_dependencies(plan),
                )
        except IntegrityError:
            raise ServiceError.conflict(
                f"The deployment '{name}' is being created by another request."
            ) from None
        self.execute(d, plan)
        status = (
            f"{request.build_absolute_uri(request.path)}/operationStatuses/{d.operation_id}"
            f"?api-version={self.api_version}"
        )
        return Response(body(d), status=200 if replaced else 201, headers={"Azure-AsyncOperation": status})

    def execute(self, d: TemplateDeployment, plan: Plan) -> None:
        """Run the plan's batches through each type's PUT code; stop after a batch with a failure."""
        failed = []
        for batch in plan.batches:
            for resource_id in batch:
                resource = plan.resource(resource_id)
                op = {"id": resource.id, "type": resource.type, "name": resource.name, "error": None}
                try:
                    data = resource.resolve(self.reader)
                    self.view(resource.type, resource.api_version).apply(data, **_kw(resource.id))
                    op["status"] = "Succeeded"
                except ServiceError as exc:
                    op["status"] = "Failed"
                    op["statusCode"] = _status_name(exc.status)
                    op["error"] = exc.as_arm()["error"]
                    failed.append(op)
                op["timestamp"] = iso(timezone.now())
                op["operationId"] = uuid.uuid4().hex[:16].upper()
                d.operations.append(op)
            if failed:
                break
        if failed:
            d.state = State.FAILED
            d.error = {
                "code": "DeploymentFailed",
                "message": "At least one resource deployment operation failed. Please list deployment "
                "operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
                "details": [
                    {**op["error"], "target": op["id"]} if "target" not in op["error"] else op["error"]
                    for op in failed
                ],
            }
        else:
            try:
                d.outputs = plan.outputs(self.reader)
                d.state = State.SUCCEEDED
            except ServiceError as exc:
                d.state = State.FAILED
                d.error = {
                    "code": "DeploymentFailed",
                    "message": exc.message,
                    "details": [exc.as_arm()["error"]],
                }
        d.finished_at = timezone.now()
        d.save()

    def delete(self, request, sub, rg, deployment):
        name = deployment
        group = self.group(sub, rg)
        d = TemplateDeployment.objects.filter(resource_group=group, name__iexact=name).first()
        if d is None:
            return Response(status=204)
        access.require(request.user, Action.WRITE, group, DEPLOYMENT_TYPE)
        d.delete()
        return Response(status=204)


def _status_name(status: int) -> str:
    return {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(status, str(status))


class DeploymentList(_Deployments):
    def get(self, request, sub, rg):
        group = self.group(sub, rg)
        return Response(page(request, TemplateDeployment.objects.filter(resource_group=group), body))


class DeploymentValidate(_Deployments):
    def post(self, request, sub, rg, deployment):
        name = deployment
        group = self.group(sub, rg)
        access.require(request.user, Action.WRITE, group, DEPLOYMENT_TYPE)
        spec = read_body(request.data)
        plan = self.plan(group, name, spec)
        return Response(
            {
                "id": deployment_id(group, name),
                "name": name,
                "type": DEPLOYMENT_TYPE,
                "properties": {
                    "provisioningState": "Succeeded",
                    "mode": "Incremental",
                    "parameters": _public_parameters(plan, spec["parameters"]),
                    "dependencies": _dependencies(plan),
                    "validatedResources": [{"id": r.id} for r in plan.resources],
                },
            }
        )


def _operation(d: TemplateDeployment, op: dict) -> dict:
    return {
        "id": f"{deployment_id(d.resource_group, d.name)}/operations/{op['operationId']}",
        "operationId": op["operationId"],
        "properties": {
            "provisioningOperation": "Create",
            "provisioningState": op["status"],
            "timestamp": op["timestamp"],
            "statusCode": op.get("statusCode", "Created" if op["status"] == "Succeeded" else None),
            **({"statusMessage": {"error": op["error"]}} if op["error"] else {}),
            "targetResource": {"id": op["id"], "resourceType": op["type"], "resourceName": op["name"]},
        },
    }


class DeploymentOperations(_Deployments):
    """DeploymentOperations_ListByResourceGroup: one operation per resource, with its status and error."""

    def get(self, request, sub, rg, deployment):
        d = _find(self.group(sub, rg), deployment)
        return Response({"value": [_operation(d, op) for op in d.operations]})


class DeploymentOperationItem(_Deployments):
    def get(self, request, sub, rg, deployment, deployment_operation):
        d = _find(self.group(sub, rg), deployment)
        wanted = deployment_operation.lower()
        op = next((op for op in d.operations if op["operationId"].lower() == wanted), None)
        if op is None:
            raise ServiceError.not_found(f"Deployment operation '{deployment_operation}' could not be found.")
        return Response(_operation(d, op))


class DeploymentOperationStatus(_Deployments):
    """The deployment's ``Azure-AsyncOperation``: ``{"status"}``, and the error once Failed."""

    def get(self, request, sub, rg, deployment, operation):
        d = _find(self.group(sub, rg), deployment)
        if d.operation_id != operation.lower():
            raise ServiceError.not_found(f"The operation '{operation}' could not be found.")
        out = {"status": d.state}
        if d.error:
            out["error"] = d.error
        return Response(out)
