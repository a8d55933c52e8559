"""drf-spectacular's settings: the OpenAPI description of the ARM-compatible API (F19).

The schema holds the ARM paths only (``/subscriptions...``, ``/providers/...``): ``galleries.api.schema``
filters the endpoints, adds the ARM JSON Schemas and describes each view (the hooks below import it,
so any schema generation — the /api/openapi.json view or ``manage.py spectacular`` — sees the
descriptions).
Swagger UI and ReDoc come from drf-spectacular-sidecar's static files, never from a CDN.
"""

SPECTACULAR_SETTINGS = {
    "TITLE": "Shared Image Gallery portal — ARM-compatible API",
    "DESCRIPTION": (
        "The portal's galleries, image definitions, image versions, managed images, snapshots, "
        "subscriptions and resource groups over the Azure Resource Manager protocol, so that the "
        "Azure SDKs and CLIs work against it unchanged.\n\n"
        "- **Authentication**: `Authorization: Bearer <token>` with a token from `POST /oauth2/token`; "
        "a signed-in browser session works too.\n"
        "- **api-version** is required on every request; the bodies take the shape of that version.\n"
        "- **Errors**: every refusal, in any status, is "
        '`{"error": {"code", "message", "target", "details"}}`.\n'
        "- **Long-running operations**: PUT, PATCH and DELETE answer with `Azure-AsyncOperation` (and "
        "`Location`); GET that URL until `status` is no longer `InProgress`.\n"
        "- **Paging**: lists answer `{value, nextLink}`; follow `nextLink` until it is absent.\n"
        "- Paths are case-insensitive in their literal segments, as in ARM."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "",
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,  # the views' docstrings are for developers
    "SORT_OPERATIONS": False,  # in the order of galleries/api/urls.py: parents before children
    "PREPROCESSING_HOOKS": ["galleries.api.schema.arm_endpoints_only"],
    "POSTPROCESSING_HOOKS": ["galleries.api.schema.finish"],
    "TAGS": [
        {"name": "Galleries", "description": "Microsoft.Compute/galleries"},
        {"name": "GalleryImages", "description": "Image definitions: Microsoft.Compute/galleries/images"},
        {
            "name": "GalleryImageVersions",
            "description": "Image versions: Microsoft.Compute/galleries/images/versions",
        },
        {"name": "AsyncOperations", "description": "The status of PUT, PATCH and DELETE operations"},
        {"name": "Images", "description": "Managed images, Microsoft.Compute/images (read, delete)"},
        {"name": "Snapshots", "description": "Snapshots, Microsoft.Compute/snapshots (read, delete)"},
        {"name": "Subscriptions", "description": "Microsoft.Resources/subscriptions (read)"},
        {"name": "ResourceGroups", "description": "Microsoft.Resources/resourceGroups"},
        {"name": "Resources", "description": "Every resource the caller may read, with ARM's $filter"},
        {"name": "Providers", "description": "Resource providers: types, api-versions, locations"},
        {"name": "Usages", "description": "Microsoft.Compute usages: the gallery limits per region"},
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "displayOperationId": True,
        "defaultModelsExpandDepth": 0,
        "validatorUrl": None,  # never ask an outside validator about the schema
    },
    "REDOC_UI_SETTINGS": {"hideDownloadButton": False, "expandResponses": "200,201"},
}
