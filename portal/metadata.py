"""``GET /metadata/endpoints``: the cloud's endpoints, as Azure Resource Manager publishes them, so that
``az cloud register -n Portal --endpoint-resource-manager https://localhost:8443/`` learns the portal.

Shapes (source: azure-cli 2.91.0, ``azure/cli/command_modules/cloud/custom.py::_populate_from_metadata_endpoint``
and ``azure/cli/core/cloud.py::_arm_to_cli_mapper`` / ``_convert_arm_to_cli``):

- ``api-version=2022-09-01`` — what ``az cloud register`` asks (``<endpoint> + '/metadata/endpoints?api-version=
  2022-09-01'``, so a trailing slash on the endpoint makes the path ``//metadata/endpoints``): one cloud object.
  The CLI requires ``name``, ``authentication.loginEndpoint``, ``authentication.audiences`` (the first is both
  ``active_directory_resource_id`` and ``management``) and a ``suffixes`` object; every other key is optional
  and a missing one leaves the CLI's endpoint or suffix unset (it complains only when a command uses it).
- ``api-version=2019-05-01`` / ``2020-06-01`` — what ``ARM_CLOUD_METADATA_URL`` documents: a list of clouds.
- ``api-version=1.0`` / ``2015-01-01`` — the Azure Stack shape (``graphEndpoint``, ``portalEndpoint``,
  ``authentication``; no ``galleryEndpoint``: the portal has no Marketplace gallery), read by msrestazure and Azure Stack's PowerShell.

Published: the login endpoint and the portal are the public base, the resource-manager audience is
``<base>/``, Microsoft Graph is ``<base>/graph/``. Nothing else: the portal has no storage, Key Vault, SQL,
batch, media or gallery endpoints, so none is claimed. Anonymous, as in Azure.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import re_path

from portal.core import limits
from portal.core.arm import error_body
from portal.core.urls import public_base

CLOUD_NAME = "Portal"
SINGLE = ("2022-09-01",)
LISTED = ("2019-05-01", "2020-06-01")
AZURE_STACK = ("1.0", "2015-01-01")
API_VERSIONS = (*AZURE_STACK, *LISTED, *SINGLE)


def cloud(base: str) -> dict:
    """The ARM shape of this portal's cloud."""
    return {
        "name": CLOUD_NAME,
        "portal": base,
        "resourceManager": base + "/",
        "authentication": {
            "loginEndpoint": base,
            "audiences": [base + "/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "microsoftGraphResourceId": base + "/graph/",
        "graph": base + "/graph/",
        "suffixes": {},
    }


def endpoints(request):
    if request.method not in ("GET", "HEAD"):
        body = error_body("MethodNotAllowed", f"The method '{request.method}' is not allowed here: only GET.")
        return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
    version = request.GET.get("api-version")
    if not version:
        body = error_body(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            "api-version",
        )
        return JsonResponse(body, status=400)
    if version not in API_VERSIONS:
        body = error_body(
            "InvalidApiVersionParameter",
            f"The api-version '{limits.quote(version)}' is invalid. The supported versions are '{', '.join(API_VERSIONS)}'.",
            "api-version",
        )
        return JsonResponse(body, status=400)
    base = public_base(request)
    if version in AZURE_STACK:
        stack = {
            "graphEndpoint": base + "/graph/",
            "portalEndpoint": base + "/",
            "authentication": {"loginEndpoint": base + "/", "audiences": [base + "/"]},
        }
        return JsonResponse(stack)
    if version in LISTED:
        return JsonResponse([cloud(base)], safe=False)
    return JsonResponse(cloud(base))


# ``/metadata/endpoints`` and ``//metadata/endpoints`` (an endpoint given with its trailing slash).
urlpatterns = [re_path(r"^/?metadata/endpoints$", endpoints, name="metadata-endpoints")]
