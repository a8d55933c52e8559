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
                            "enum": ["Incremental"],
                            "description": "Complete is refused.",
                        },
                    },
                }
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

    one = OpenApiResponse(response=ref("DeploymentExtended"), description="The deployment.")
    body = {"application/json": ref("DeploymentRequest")}
    extend_schema_view(
        get=_op("Deployments_Get", "Get a deployment", deploy.DeploymentItem, {200: one}, _ERRORS_READ),
        put=_op(
            "Deployments_CreateOrUpdate",
            "Deploy a template to a resource group",
            deploy.DeploymentItem,
            {200: one, 201: one},
            _ERRORS_WRITE,
            body,
            "Write on the group needed; a bad template is 400 InvalidTemplate before anything is created. "
            "The resources are deployed within the request; Azure-AsyncOperation answers the final status. "
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
            "Deployments_Delete",
            "Delete a deployment's record (its resources stay)",
            deploy.DeploymentItem,
            {204: OpenApiResponse(description="Deleted, or not there.")},
            _ERRORS_WRITE,
        ),
    )(deploy.DeploymentItem)
    # The views with one operation each: (method, view, operationId, summary, response, its text, codes, extra).
    single = (
        ("get", deploy.DeploymentList, "Deployments_ListByResourceGroup", "List the deployments of a resource group",
         "DeploymentListResult", "A page.", _ERRORS_READ, {"extra": paging}),
        ("post", deploy.DeploymentValidate, "Deployments_Validate", "Validate a template against a resource group",
         "DeploymentExtended", "Valid: validatedResources.", _ERRORS_WRITE, {"request": body}),
        ("get", deploy.DeploymentOperations, "DeploymentOperations_ListByResourceGroup",
         "List a deployment's operations (one per resource)", "DeploymentOperationsListResult", "The operations.",
         _ERRORS_READ, {}),
        ("get", deploy.DeploymentOperationItem, "DeploymentOperations_GetAtResourceGroupScope",
         "Get one operation of a deployment", "DeploymentOperation", "The operation.", _ERRORS_READ, {}),
        ("get", deploy.DeploymentOperationStatus, "Deployments_OperationStatus",
         "The status of a deployment (its Azure-AsyncOperation)", "DeploymentOperationStatus", "The status.",
         _ERRORS_READ, {}),
    )  # fmt: skip
    for method, view, operation_id, summary, component, text, codes, extra in single:
        answer = {200: OpenApiResponse(response=ref(component), description=text)}
        extend_schema_view(**{method: _op(operation_id, summary, view, answer, codes, **extra)})(view)


__all__ = ["PATH_PARAMETERS", "describe"]
