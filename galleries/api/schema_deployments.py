"""The OpenAPI description of template deployments (``galleries.api.deployments``), in the manner of
``galleries.api.schema``: operation ids as resources.json names them (Deployments_*,
DeploymentOperations_*), the ARM shapes as components."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view

from . import deployments as deploy
from .schema_components import DATE_TIME, EXAMPLE, SCHEMAS, ref

_TAG = "Deployments"
_ANY = {"type": "object", "additionalProperties": True}
_ERRORS_READ = (400, 401, 404)
_ERRORS_WRITE = (400, 401, 403, 404, 409)

PATH_PARAMETERS = {
    "deployment": (
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[-\w\._\(\)]+$"},
        "The deployment's name.",
    ),
    "deployment_operation": ({"type": "string", "minLength": 1}, "The deployment operation's id."),
}
EXAMPLE.update({"deployment": "sig", "deployment_operation": "0123456789ABCDEF"})

SCHEMAS.update(
    {
        "DeploymentRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["properties"],
            "properties": {
                "properties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["template"],
                    "properties": {
                        "template": {
                            **_ANY,
                            "description": "The template, inline (templateLink is refused).",
                        },
                        "parameters": {
                            **_ANY,
                            "description": "{name: {value}}, or a whole parameters file (parametersLink is refused).",
                        },
                        "mode": {
                            "type": "string",
                            "enum": ["Incremental", "Complete"],
                            "description": "Complete (resource-group scope only) deletes what the group holds "
                            "and the template does not name.",
                        },
                    },
                },
            },
        },
        "DeploymentExportResult": {"type": "object", "properties": {"template": _ANY}},
        "WhatIfPropertyChange": {
            "type": "object",
            "required": ["path", "propertyChangeType"],
            "properties": {
                "path": {"type": "string"},
                "propertyChangeType": {
                    "type": "string",
                    "enum": ["Create", "Delete", "Modify", "Array", "NoEffect"],
                },
                "before": {},
                "after": {},
                "children": {"type": "array", "items": ref("WhatIfPropertyChange")},
            },
        },
        "WhatIfChange": {
            "type": "object",
            "required": ["resourceId", "changeType"],
            "properties": {
                "resourceId": {"type": "string"},
                "changeType": {
                    "type": "string",
                    "enum": ["Create", "Delete", "Ignore", "Deploy", "NoChange", "Modify", "Unsupported"],
                },
                "unsupportedReason": {"type": "string"},
                "before": _ANY,
                "after": _ANY,
                "delta": {"type": "array", "items": ref("WhatIfPropertyChange")},
            },
        },
        "WhatIfOperationResult": {
            "type": "object",
            "properties": {
                "status": {"type": "string"},
                "properties": {
                    "type": "object",
                    "properties": {"changes": {"type": "array", "items": ref("WhatIfChange")}},
                },
                "error": ref("ErrorDetail"),
            },
        },
        "DeploymentExtended": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "name": {"type": "string", "readOnly": True},
                "type": {"type": "string", "readOnly": True},
                "properties": {
                    "type": "object",
                    "properties": {
                        "provisioningState": {
                            "type": "string",
                            "enum": ["Accepted", "Running", "Succeeded", "Failed", "Canceled"],
                        },
                        "timestamp": DATE_TIME,
                        "duration": {"type": "string"},
                        "mode": {"type": "string"},
                        "parameters": _ANY,
                        "outputs": _ANY,
                        "outputResources": {"type": "array", "items": _ANY},
                        "validatedResources": {"type": "array", "items": _ANY},
                        "dependencies": {"type": "array", "items": _ANY},
                        "providers": {"type": "array", "items": _ANY},
                        "error": ref("ErrorDetail"),
                    },
                },
            },
        },
        "DeploymentListResult": {
            "type": "object",
            "properties": {
                "value": {"type": "array", "items": ref("DeploymentExtended")},
                "nextLink": {"type": "string", "format": "uri"},
            },
        },
        "DeploymentOperation": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "operationId": {"type": "string"}, "properties": _ANY},
        },
        "DeploymentOperationsListResult": {
            "type": "object",
            "properties": {"value": {"type": "array", "items": ref("DeploymentOperation")}},
        },
        "DeploymentOperationStatus": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["Accepted", "Running", "Succeeded", "Failed", "Canceled"],
                },
                "error": ref("ErrorDetail"),
            },
        },
    }
)


def describe(errors, api_version_parameter, paging) -> None:
    """Attach the descriptions to the views; ``galleries.api.schema`` calls it with its two helpers
    (``_errors``: the CloudError responses of some codes; ``api_version_parameter(view)``; ``PAGING``)."""
    for at_subscription in (False, True):
        _describe_scope(errors, api_version_parameter, paging, at_subscription)


def _describe_scope(errors, api_version_parameter, paging, at_subscription: bool) -> None:
    """One scope's views: the resource group's, or their subscription-scope twins (operation ids with
    ``AtSubscriptionScope``, as resources.json names them)."""

    def cls(view):
        return deploy.AT_SUBSCRIPTION[view] if at_subscription else view

    def name(operation_id: str, rg_name: str | None = None) -> str:
        if not at_subscription:
            return rg_name or operation_id
        return f"{operation_id}AtSubscriptionScope"

    where = "a subscription" if at_subscription else "a resource group"

    def _op(operation_id, summary, view, responses, codes, request=None, description="", extra=()):
        return extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description or summary + ".",
            tags=[_TAG],
            parameters=[api_version_parameter(view), *extra],
            request=request,
            responses={**responses, **errors(*codes)},
        )

    item = cls(deploy.DeploymentItem)
    one = OpenApiResponse(response=ref("DeploymentExtended"), description="The deployment.")
    body = {
        "application/json": ref("SubscriptionDeploymentRequest" if at_subscription else "DeploymentRequest")
    }
    extend_schema_view(
        get=_op(name("Deployments_Get"), "Get a deployment", item, {200: one}, _ERRORS_READ),
        put=_op(
            name("Deployments_CreateOrUpdate"),
            f"Deploy a template to {where}",
            item,
            {200: one, 201: one},
            _ERRORS_WRITE,
            body,
            f"Write on {where} needed; a bad template is 400 InvalidTemplate before anything is created. "
            "The deployment starts within the request and carries on until its resources (an image "
            "version's replication included) are done; Azure-AsyncOperation answers its status. "
            "201 for a new name, 200 for a name deployed before (its record is replaced).",
            extra=[
                OpenApiParameter(
                    "Azure-AsyncOperation",
                    {"type": "string", "format": "uri"},
                    OpenApiParameter.HEADER,
                    description="The deployment's status (Deployments_OperationStatus).",
                    response=[200, 201],
                )
            ],
        ),
        delete=_op(
            name("Deployments_Delete"),
            "Delete a deployment's record (its resources stay)",
            item,
            {204: OpenApiResponse(description="Deleted, or not there.")},
            _ERRORS_WRITE,
        ),
    )(item)
    what_if = cls(deploy.DeploymentWhatIf)
    extend_schema_view(
        post=_op(
            name("Deployments_WhatIf"),
            f"What deploying a template to {where} would change",
            what_if,
            {
                202: OpenApiResponse(
                    description="Accepted: the result is at Location (final-state-via location)."
                )
            },
            _ERRORS_WRITE,
            {
                "application/json": ref(
                    "SubscriptionDeploymentWhatIf" if at_subscription else "DeploymentWhatIf"
                )
            },
            f"Write on {where} needed; the checks of a PUT, nothing created. Each resource of the "
            "template (nested deployments flattened) is compared with what GET answers now: Create, "
            "NoChange, Modify (with the delta of each property the template sets), Deploy (its body needs "
            "reference() of what is not made yet), and in Complete mode Delete for what the group holds "
            "and the template does not name. properties.whatIfSettings.resultFormat: FullResourcePayloads "
            "(default) or ResourceIdOnly.",
            extra=[
                OpenApiParameter(
                    name,
                    {"type": "string", "format": "uri"} if name == "Location" else {"type": "string"},
                    OpenApiParameter.HEADER,
                    description=text,
                    response=[202],
                )
                for name, text in (
                    ("Location", "The what-if's result (WhatIfOperationResult)."),
                    ("Retry-After", "Seconds to wait before asking for the result."),
                )
            ],
        )
    )(what_if)
    # The views with one operation each: (method, view, operationId, summary, response, its text, codes, extra).
    single = (
        ("get", deploy.DeploymentList, name("Deployments_List", "Deployments_ListByResourceGroup"),
         f"List the deployments of {where}", "DeploymentListResult", "A page.", _ERRORS_READ, {"extra": paging}),
        ("post", deploy.DeploymentValidate, name("Deployments_Validate"), f"Validate a template against {where}",
         "DeploymentExtended", "Valid: validatedResources.", _ERRORS_WRITE, {"request": body}),
        ("post", deploy.DeploymentCancel, name("Deployments_Cancel"),
         "Cancel a running deployment (what is deployed stays)", None, "Canceled.", _ERRORS_WRITE, {}),
        ("post", deploy.DeploymentExportTemplate, name("Deployments_ExportTemplate"),
         "The template a deployment ran", "DeploymentExportResult", "The template.", _ERRORS_READ, {}),
        ("get", deploy.DeploymentOperations,
         name("DeploymentOperations_List", "DeploymentOperations_ListByResourceGroup"),
         "List a deployment's operations (one per resource)", "DeploymentOperationsListResult", "The operations.",
         _ERRORS_READ, {}),
        ("get", deploy.DeploymentOperationItem,
         name("DeploymentOperations_Get", "DeploymentOperations_GetAtResourceGroupScope"),
         "Get one operation of a deployment", "DeploymentOperation", "The operation.", _ERRORS_READ, {}),
        ("get", deploy.DeploymentWhatIfResult, name("Deployments_WhatIfResult"),
         "The result of a what-if (its Location), for the principal who asked; kept an hour",
         "WhatIfOperationResult", "The what-if's result.", _ERRORS_READ, {}),
        ("get", deploy.DeploymentOperationStatus, name("Deployments_OperationStatus"),
         "The status of a deployment (its Azure-AsyncOperation)", "DeploymentOperationStatus", "The status.",
         _ERRORS_READ, {}),
    )  # fmt: skip
    for method, view, operation_id, summary, component, text, codes, extra in single:
        view = cls(view)
        if component is None:
            answer = {204: OpenApiResponse(description=text)}
        else:
            answer = {200: OpenApiResponse(response=ref(component), description=text)}
        extend_schema_view(**{method: _op(operation_id, summary, view, answer, codes, **extra)})(view)


SCHEMAS["SubscriptionDeploymentRequest"] = {
    **SCHEMAS["DeploymentRequest"],
    "required": ["properties", "location"],
    "properties": {
        **SCHEMAS["DeploymentRequest"]["properties"],
        "location": {"type": "string", "description": "Where the deployment's data is kept."},
    },
}

_WHAT_IF_SETTINGS = {
    "whatIfSettings": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "resultFormat": {"type": "string", "enum": ["FullResourcePayloads", "ResourceIdOnly"]},
        },
    }
}
for _request, _what_if in (
    ("DeploymentRequest", "DeploymentWhatIf"),
    ("SubscriptionDeploymentRequest", "SubscriptionDeploymentWhatIf"),
):
    _props = SCHEMAS[_request]["properties"]["properties"]
    SCHEMAS[_what_if] = {
        **SCHEMAS[_request],
        "properties": {
            **SCHEMAS[_request]["properties"],
            "properties": {**_props, "properties": {**_props["properties"], **_WHAT_IF_SETTINGS}},
        },
    }

__all__ = ["PATH_PARAMETERS", "describe"]
