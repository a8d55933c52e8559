"""The portal's public base URL (what clients are told: issuers, audiences, endpoints)."""

from django.conf import settings


def public_base(request) -> str:
    if getattr(settings, "PUBLIC_URL", ""):
        return settings.PUBLIC_URL.rstrip("/")
    return request.build_absolute_uri("/").rstrip("/")
