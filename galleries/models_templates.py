"""Template deployments (F20, issue 15): the record of one ``Microsoft.Resources/deployments`` at
resource-group or subscription scope, and the kept result of a what-if. The rules live in
``galleries.api.deploying`` and ``galleries.api.whatif``; these are only the rows."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import ResourceGroup, Subscription, User

__all__ = ["TemplateDeployment", "WhatIfResult"]


class TemplateDeployment(models.Model):
    """A deployment of an ARM template into a resource group: what was sent, how it went, and one
    operation per resource (``operations``: ``[{"id", "type", "name", "status", "error", "timestamp"}]``)."""

    class State(models.TextChoices):
        ACCEPTED = "Accepted"
        RUNNING = "Running"
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"
        CANCELED = "Canceled"

    name = models.CharField(max_length=64)
    operation_id = models.CharField(max_length=36, default="", help_text="Of its Azure-AsyncOperation URL.")
    subscription = models.ForeignKey(
        Subscription, null=True, on_delete=models.CASCADE, related_name="template_deployments"
    )
    resource_group = models.ForeignKey(
        ResourceGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deployments",
        help_text="Empty for a deployment at subscription scope.",
    )
    location = models.CharField(max_length=64, blank=True, help_text="A subscription-scope deployment's.")
    principal = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    template = models.JSONField(default=dict)
    parameters = models.JSONField(default=dict, help_text="As sent, secure parameters removed.")
    mode = models.CharField(max_length=16, default="Incremental")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACCEPTED)
    error = models.JSONField(null=True, blank=True)
    outputs = models.JSONField(default=dict)
    operations = models.JSONField(default=list)
    dependencies = models.JSONField(default=list)
    values = models.TextField(
        blank=True,
        default="",
        help_text="While it runs: every parameter's value, secure ones included, encrypted (Fernet); "
        "cleared when it ends.",
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource_group", "name"], name="uniq_template_deployment_name"),
            models.UniqueConstraint(
                fields=["subscription", "name"],
                condition=models.Q(resource_group__isnull=True),
                name="uniq_subscription_deployment_name",
            ),
        ]
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return self.name


class WhatIfResult(models.Model):
    """A what-if's ``WhatIfOperationResult``, computed within its POST and kept for its ``Location``
    (the one who asked reads it there; it expires after ``galleries.api.whatif.RESULT_MAX_AGE``)."""

    id = models.UUIDField(primary_key=True)
    principal = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    deployment_id = models.CharField(max_length=1024, help_text="The what-if's deployment id, lower-case.")
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return str(self.id)
