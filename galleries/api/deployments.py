"""``Microsoft.Resources/deployments`` at resource-group and subscription scope (F20, issue 15), as the
spec's "Deployments" operations (``specification/resources/resource-manager/Microsoft.Resources/stable/
2025-04-01/resources.json``: Deployments_CreateOrUpdate[AtSubscriptionScope], _Get, _List, _Delete,
_Validate, _Cancel, _ExportTemplate, _WhatIf[AtSubscriptionScope], DeploymentOperations_List/_Get).

Thin: the work is ``galleries.api.deploying`` (start, advance, cancel, validate, the shapes). A PUT
answers 201 (200 when the name was deployed before) with the deployment as far as it got and
``Azure-AsyncOperation``; every GET of the deployment, its operations or that status advances it (and
the beat task does when nobody asks), so a deployment that waits for an image version's replication
finishes whether or not its client keeps polling.
"""

from __future__ import annotations

from rest_framework.response import Response

from accounts import access
from accounts.roles import Action
from portal.core.arm import ArmJSONCParser, page
from portal.core.errors import ServiceError

from ..models import TemplateDeployment
from . import deploying, whatif
from .resource_groups import RESOURCES_VERSIONS
from .views import ArmView, resource_group_or_404, subscription_or_404

DEPLOYMENT_TYPE = deploying.DEPLOYMENT_TYPE
#: How long a client should wait before asking again while a deployment runs.
RETRY_AFTER = "1"


class _Deployments(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = DEPLOYMENT_TYPE
    parser_classes = [ArmJSONCParser]  # the az CLI sends the template as JSONC

    def target(self, sub, rg=None):
        """The deployment's scope, readable by the caller (404 otherwise): a resource group or a
        subscription."""
        if rg is None:
            return subscription_or_404(self.request.user, sub)
        group = resource_group_or_404(self.request.user, sub, rg)
        return type(group).objects.select_related("location", "subscription__tenant").get(pk=group.pk)

    def current(self, sub, deployment, rg=None) -> TemplateDeployment:
        """The deployment, advanced as far as it can go now."""
        return deploying.advance(deploying.find(self.target(sub, rg), deployment))

    def status_url(self, d: TemplateDeployment) -> str:
        base = self.request.build_absolute_uri(f"/{deploying.deployment_id(d, d.name).lstrip('/')}")
        return f"{base}/operationStatuses/{d.operation_id}?api-version={self.api_version}"


class DeploymentItem(_Deployments):
    def get(self, request, sub, deployment, rg=None):
        return Response(deploying.body(self.current(sub, deployment, rg)))

    def put(self, request, sub, deployment, rg=None):
        target = self.target(sub, rg)
        d, replaced = deploying.start(
            request.user, target, deployment, request.data, request.META.get("REMOTE_ADDR")
        )
        headers = {"Azure-AsyncOperation": self.status_url(d)}
        if d.state in deploying.RUNNING_STATES:
            headers["Retry-After"] = RETRY_AFTER
        return Response(deploying.body(d), status=200 if replaced else 201, headers=headers)

    def delete(self, request, sub, deployment, rg=None):
        """Deletes the record only (the resources stay), as ARM; a running deployment is refused."""
        target = self.target(sub, rg)
        d = deploying.rows(target).filter(name__iexact=deployment).first()
        if d is None:
            return Response(status=204)
        access.require(request.user, Action.WRITE, target, DEPLOYMENT_TYPE)
        if d.state in deploying.RUNNING_STATES:
            raise ServiceError.conflict(
                f"The deployment '{d.name}' is still running: cancel it before deleting it (DeploymentActive)."
            )
        d.delete()
        return Response(status=204)


class DeploymentList(_Deployments):
    def get(self, request, sub, rg=None):
        rows = deploying.rows(self.target(sub, rg)).select_related("resource_group", "subscription")
        return Response(page(request, rows, lambda d: deploying.body(deploying.advance(d))))


class DeploymentValidate(_Deployments):
    def post(self, request, sub, deployment, rg=None):
        return Response(deploying.validate(request.user, self.target(sub, rg), deployment, request.data))


class DeploymentWhatIf(_Deployments):
    """Deployments_WhatIf: a long-running POST (``final-state-via: location``). The result is computed
    now (``whatif.what_if``) and kept; 202 with ``Location`` (its result URL) and ``Retry-After``, as
    Azure answers."""

    def post(self, request, sub, deployment, rg=None):
        target = self.target(sub, rg)
        result = whatif.what_if(request.user, target, deployment, request.data)
        operation = whatif.keep(request.user, target, deployment, result)
        base = self.request.build_absolute_uri(f"/{deploying.deployment_id(target, deployment).lstrip('/')}")
        location = f"{base}/whatIfResults/{operation}?api-version={self.api_version}"
        return Response(status=202, headers={"Location": location, "Retry-After": RETRY_AFTER})


class DeploymentWhatIfResult(_Deployments):
    """A what-if's Location: its ``WhatIfOperationResult`` (200), for the principal who asked."""

    def get(self, request, sub, deployment, operation, rg=None):
        return Response(whatif.kept(request.user, self.target(sub, rg), deployment, operation))


class DeploymentCancel(_Deployments):
    """Deployments_Cancel: 204; what is already deployed stays (ARM)."""

    def post(self, request, sub, deployment, rg=None):
        deploying.cancel(request.user, deploying.find(self.target(sub, rg), deployment))
        return Response(status=204)


class DeploymentExportTemplate(_Deployments):
    """Deployments_ExportTemplate: the template the deployment ran, as sent. An action, not a read
    (``Microsoft.Resources/deployments/exportTemplate/action``, which Azure's Reader — ``*/read`` — has not):
    write on the scope needed, as for the deployment itself."""

    def post(self, request, sub, deployment, rg=None):
        target = self.target(sub, rg)
        d = deploying.find(target, deployment)
        access.require(request.user, Action.WRITE, target, DEPLOYMENT_TYPE)
        return Response({"template": d.template})


class DeploymentOperations(_Deployments):
    """DeploymentOperations_List: one operation per resource, with its status and error."""

    def get(self, request, sub, deployment, rg=None):
        d = self.current(sub, deployment, rg)
        return Response({"value": [deploying.operation(d, op) for op in d.operations]})


class DeploymentOperationItem(_Deployments):
    def get(self, request, sub, deployment, deployment_operation, rg=None):
        d = self.current(sub, deployment, rg)
        wanted = deployment_operation.lower()
        op = next((op for op in d.operations if op["operationId"].lower() == wanted), None)
        if op is None:
            raise ServiceError.not_found(f"Deployment operation '{deployment_operation}' could not be found.")
        return Response(deploying.operation(d, op))


class DeploymentOperationStatus(_Deployments):
    """The deployment's ``Azure-AsyncOperation``: ``{"status"}``, and the error once Failed."""

    def get(self, request, sub, deployment, operation, rg=None):
        d = self.current(sub, deployment, rg)
        if d.operation_id != operation.lower():
            raise ServiceError.not_found(f"The operation '{operation}' could not be found.")
        out = {"status": d.state}
        if d.error:
            out["error"] = d.error
        headers = {"Retry-After": RETRY_AFTER} if d.state in deploying.RUNNING_STATES else {}
        return Response(out, headers=headers)


#: Each view → its subscription-scope twin: a subclass of its own, so that each has its own operation id in
#: the OpenAPI description (Deployments_*AtSubscriptionScope, as resources.json names them); ``urls``
#: routes them and ``schema_deployments`` names them.
AT_SUBSCRIPTION = {
    view: type(f"Subscription{view.__name__}", (view,), {"__module__": __name__, "__doc__": view.__doc__})
    for view in (
        DeploymentItem,
        DeploymentList,
        DeploymentValidate,
        DeploymentCancel,
        DeploymentWhatIf,
        DeploymentWhatIfResult,
        DeploymentExportTemplate,
        DeploymentOperations,
        DeploymentOperationItem,
        DeploymentOperationStatus,
    )
}
