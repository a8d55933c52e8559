"""drf-spectacular's settings: the OpenAPI description of the ARM-compatible API (F19)."""

SPECTACULAR_SETTINGS = {
    "TITLE": "Shared Image Gallery portal — ARM-compatible API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
