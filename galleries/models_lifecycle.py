"""The record of a lifecycle run (F18): the plan is saved before anything is done, and each action's
outcome is written on the same row as it happens, so a run that stops half-way (a crash, a killed
worker) still shows what was planned and what had been done. The rules live in ``galleries.lifecycle``;
this is only the row."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Subscription, User

__all__ = ["LifecycleRun"]


class LifecycleRun(models.Model):
    """One real run of the lifecycle clean-up (a dry run changes nothing, so it leaves no row).

    ``actions`` is the plan as it was when the run started — one object per action with ``kind``,
    ``arm_id``, ``name``, ``reason``, ``regions``, ``pk`` — plus its ``outcome`` (``OUTCOMES``) and
    ``detail`` (why it was deferred, skipped or refused)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Daily schedule"
        COMMAND = "command", "manage.py lifecycle --apply"
        PORTAL = "portal", "Apply now (portal)"

    class Status(models.TextChoices):
        RUNNING = "Running"
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"

    #: What became of an action: ``planned`` (not reached yet — or never, if the run stopped),
    #: ``started`` (being carried out; after a crash, unknown), ``done``, ``deferred``, ``skipped``,
    #: ``refused``, and ``kept`` (a keep action: shown, never carried out).
    OUTCOMES = {
        "planned": "Not carried out",
        "started": "Started, not finished",
        "done": "Done",
        "deferred": "Deferred to the next run",
        "skipped": "Skipped",
        "refused": "Refused",
        "kept": "Kept",
    }

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The subscription the run was limited to; empty: every subscription.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    planned_for = models.DateTimeField(
        help_text="The time the plan was computed for (what had passed by then)."
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.COMMAND)
    principal = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    principal_name = models.CharField(max_length=256, help_text="Who started it: a username, or 'system'.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    actions = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="The run's counts, once it finished.")
    error = models.TextField(blank=True, help_text="What stopped the run, if something did.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["subscription", "-created_at"])]

    def __str__(self) -> str:
        return f"Lifecycle run {self.created_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def changes(self) -> list[dict]:
        return [a for a in self.actions if a.get("outcome") != "kept"]

    def outcome_counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.OUTCOMES, 0)
        for a in self.actions:
            out[a.get("outcome", "planned")] = out.get(a.get("outcome", "planned"), 0) + 1
        return out
