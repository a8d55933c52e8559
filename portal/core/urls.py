"""The portal's public address, the one base every absolute URL it publishes is built on (the metadata
endpoint, token issuers and audiences, OIDC discovery)."""

from __future__ import annotations

from django.conf import settings


def public_base(request) -> str:
    """``PUBLIC_URL`` when set, else this request's scheme and host (the scheme honours ``BEHIND_PROXY``
    through ``SECURE_PROXY_SSL_HEADER``), without the trailing slash: e.g. ``https://localhost:8443``."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/")
    return request.build_absolute_uri("/").rstrip("/")
