"""Long-running operations of the ARM API (F19): the rows behind ``Azure-AsyncOperation`` URLs.

An operation does not copy the state of its resource: its status is read from the resource when asked
(``galleries.api.operations.status``) and kept here only once final."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Subscription, User

__all__ = ["ArmOperation"]


class ArmOperation(models.Model):
    class Kind(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    class Status(models.TextChoices):
        IN_PROGRESS = "InProgress"
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"
        CANCELED = "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    resource_type = models.CharField(max_length=128)
    # Not a foreign key: a deletion's operation outlives its resource.
    resource_id = models.BigIntegerField(null=True, blank=True)
    arm_id = models.CharField(max_length=1024)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    location = models.CharField(max_length=64)
    principal = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    error = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["started_at"])]
