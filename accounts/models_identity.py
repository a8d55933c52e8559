"""The identity service's own rows: the RSA keys that sign tokens (``accounts.keys``) and the managed
identities of service principals (the App Service-style endpoint, ``accounts.views_identity``).
Re-exported by ``accounts.models``."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

from .models_directory import ServicePrincipal, User


class SigningKey(models.Model):
    """An RSA 2048 key pair that signs tokens (RS256). The newest key signs; older ones stay published in
    the JWKS until ``retires_at`` (when every token they signed has expired), then are deleted."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    retires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when a newer key takes over: the last token it signed expires then.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.kid


class ManagedIdentity(models.Model):
    """A service principal that pipelines beside the portal act as without a client secret: they present
    the identity header (``X-IDENTITY-HEADER``, shown once; only its SHA-256 is stored) to ``/msi/token``."""

    service_principal = models.OneToOneField(
        ServicePrincipal, on_delete=models.CASCADE, related_name="managed_identity"
    )
    header_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "managed identities"

    def __str__(self) -> str:
        return f"managed identity of {self.service_principal}"

    @staticmethod
    def digest(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    @classmethod
    def enable(cls, sp: ServicePrincipal, created_by: User | None = None) -> tuple[ManagedIdentity, str]:
        """Make ``sp`` a managed identity with a new header secret (replacing an earlier one: the tokens it
        got end with it). Returns the row and the secret, which is not stored."""
        value = secrets.token_urlsafe(32)
        cls.objects.filter(service_principal=sp).delete()
        row = cls.objects.create(
            service_principal=sp, header_hash=cls.digest(value), hint=value[:3], created_by=created_by
        )
        return row, value
