"""The deployable types beyond the galleries' own (issue 15): resource groups at subscription scope and
role assignments as extension resources, each through the API's own view for the type — so a template
resource gets the same body checks, the same service call as the deployer (its access checks, its
activity-log entry) and the same rendering as a PUT and GET of the API:

- ``Microsoft.Resources/resourceGroups`` → ``resource_groups.ResourceGroupItem`` (create with
  ``accounts.administration.create_resource_group``: write on the subscription; or replace the tags
  with ``galleries.resource_groups.update_tags``: write on the group);
- ``Microsoft.Authorization/roleAssignments`` → ``accounts.api.authorization.RoleAssignmentItem``
  (``accounts.sharing.assign_role``: Owner or User Access Administrator on the scope), named by the
  template's GUID name, at the resource it extends (``scope``) or at the deployment's scope.

``check_scopes`` refuses, before anything is deployed, a resource a subscription-scope template would
create outside any resource group (a gallery, say) — it needs a nested deployment with
``resourceGroup``, as learn.microsoft.com/azure/azure-resource-manager/templates/deploy-to-subscription
describes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from accounts.api.authorization import ASSIGNMENT_TYPE, ASSIGNMENTS_VERSIONS, RoleAssignmentItem
from accounts.models import ResourceGroup
from portal.core.errors import ServiceError

from ..arm.errors import invalid_template
from ..arm.expand import Plan
from .resource_groups import RESOURCES_VERSIONS, ResourceGroupItem

DEPLOYMENTS_TYPE = "microsoft.resources/deployments"
#: What a subscription-scope template may create outside a nested deployment (extension resources
#: such as role assignments may also target any resource).
SUBSCRIPTION_TYPES = {ResourceGroup.ARM_TYPE.lower(), ASSIGNMENT_TYPE.lower(), DEPLOYMENTS_TYPE}
_ASSIGNMENTS = f"/providers/{ASSIGNMENT_TYPE}/".lower()
_MISSING = {ServiceError.NOT_FOUND, "ResourceGroupNotFound", "RoleAssignmentNotFound"}


@dataclass
class Outcome:
    """What a handler's ``apply`` or ``status`` answers: ``Succeeded``, ``Running`` or ``Failed``."""

    status: str
    error: dict | None = None


def scope_type(resource_id: str) -> str:
    """The type of a resource group's id (``/subscriptions/s/resourceGroups/x``, or as
    ``subscriptionResourceId()`` spells it with ``providers/Microsoft.Resources``) or of a role
    assignment's; ``""`` for any other id."""
    lowered = resource_id.lower()
    if _ASSIGNMENTS in lowered:
        return ASSIGNMENT_TYPE
    parts = lowered.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "subscriptions" and parts[2] == "resourcegroups":
        return ResourceGroup.ARM_TYPE
    if parts[:1] == ["subscriptions"] and parts[2:5] == [
        "providers",
        "microsoft.resources",
        "resourcegroups",
    ]:
        return ResourceGroup.ARM_TYPE if len(parts) == 6 else ""
    return ""


def _request(runner, data=None):
    """The runner's request stand-in (who, from where) carrying ``data`` as the body of a PUT."""
    request = copy.copy(runner.request)
    request.data = data
    return request


def _view(view_class, runner, data=None):
    view = view_class()
    view.request, view.args, view.kwargs = _request(runner, data), (), {}
    return view


def _read(call) -> dict | None:
    """A GET through the API's view: its body, or None when the resource is not there (or hidden)."""
    try:
        return call().data
    except ServiceError as exc:
        if exc.code in _MISSING:
            return None
        raise


class _ViewHandler:
    """A type deployed through one API item view's PUT and read through its GET, done within the call
    (``status`` is always Succeeded); ``args`` gives the view's arguments from the resource id."""

    view_class = None

    @staticmethod
    def args(resource_id: str) -> tuple[str, str]:
        raise NotImplementedError

    def read(self, runner, resource_id: str, api_version: str | None) -> dict | None:
        view = _view(self.view_class, runner)
        return _read(lambda: view.get(view.request, *self.args(resource_id)))

    def apply(self, runner, resource, body: dict) -> Outcome:
        view = _view(self.view_class, runner, body)
        view.put(view.request, *self.args(resource.id))
        return Outcome("Succeeded")

    def status(self, runner, resource_id: str) -> Outcome:
        return Outcome("Succeeded")


class ResourceGroupHandler(_ViewHandler):
    """``Microsoft.Resources/resourceGroups`` at subscription scope: the API's resource-group PUT/GET."""

    api_versions = RESOURCES_VERSIONS
    view_class = ResourceGroupItem

    @staticmethod
    def args(resource_id: str) -> tuple[str, str]:
        parts = resource_id.strip("/").split("/")
        return parts[1], parts[-1]


class RoleAssignmentHandler(_ViewHandler):
    """``Microsoft.Authorization/roleAssignments``: the API's role-assignment PUT/GET at the scope the
    assignment extends (its id up to ``/providers/Microsoft.Authorization/roleAssignments/``)."""

    api_versions = ASSIGNMENTS_VERSIONS
    view_class = RoleAssignmentItem

    @staticmethod
    def args(resource_id: str) -> tuple[str, str]:
        at = resource_id.lower().rfind(_ASSIGNMENTS)
        return resource_id[:at].strip("/"), resource_id[at + len(_ASSIGNMENTS) :]


#: Registered in ``deploying.HANDLERS`` next to the galleries' types.
SCOPE_HANDLERS = {
    ResourceGroup.ARM_TYPE.lower(): ResourceGroupHandler(),
    ASSIGNMENT_TYPE.lower(): RoleAssignmentHandler(),
}


def check_scopes(plan: Plan) -> Plan:
    """Refuse (``InvalidTemplate``, before anything exists) a resource that would be created outside a
    resource group: at subscription scope only resource groups, deployments and role assignments (and
    extension resources) may be declared; a gallery goes in a nested deployment with ``resourceGroup``."""
    for resource in plan.resources:
        if resource.nested is not None:
            check_scopes(resource.nested)
        elif (
            plan.scope.resource_group is None
            and resource.extends is None
            and resource.type.lower() not in SUBSCRIPTION_TYPES
        ):
            raise invalid_template(
                f"The resource type '{resource.type}' cannot be deployed at subscription scope: it belongs "
                "in a resource group. Deploy it through a nested 'Microsoft.Resources/deployments' with "
                "'resourceGroup' set.",
                f"{resource.path}.type",
            )
    return plan
