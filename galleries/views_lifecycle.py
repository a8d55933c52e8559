"""The Lifecycle page of a subscription (F18): the next run's plan, computed live for that subscription
by ``galleries.lifecycle.plan`` (the same plan the daily job will save and carry out), when the daily
job runs next, the last runs (``LifecycleRun``) with each action's outcome, and "Apply now".

Access: the subscription is fetched through the access filter, so whoever may not read it gets 404.
"Apply now" is offered to and allowed for principals who may both write and delete in the subscription
(Owner, Contributor); anyone else who can read the page gets 403 on POST. Applying runs the plan for the
subscription as the caller, through the service layer: each change is checked and logged as theirs."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import access
from accounts.activity import Caller
from accounts.models import Subscription
from accounts.roles import Action
from portal.core.errors import ServiceError

from . import lifecycle
from .models import LifecycleRun, Region

#: The beat entry of the daily job (``CELERY_BEAT_SCHEDULE``).
SCHEDULE_KEY = "lifecycle"
RECENT_RUNS = 10
GALLERY_PATH = "/providers/Microsoft.Compute/galleries/"
KIND_LABELS = {
    lifecycle.DELETE_VERSION: "Delete version",
    lifecycle.DELETE_DEFINITION: "Delete definition",
    lifecycle.TRIM_VERSION: "Trim version",
    lifecycle.KEEP: "Keep",
}


def _schedule():
    entry = settings.CELERY_BEAT_SCHEDULE.get(SCHEDULE_KEY) or {}
    return entry.get("schedule")


def next_run(now: dt.datetime) -> dt.datetime | None:
    """When the daily job runs next after ``now``: the first time its crontab (UTC, the beat's time
    zone) matches after ``now``. ``None`` when the job is not on a crontab."""
    schedule = _schedule()
    if not all(
        hasattr(schedule, a) for a in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
    ):
        return None
    now = now.astimezone(dt.UTC)
    for days in range(367):
        day = (now + dt.timedelta(days=days)).date()
        if (
            day.month not in schedule.month_of_year
            or day.day not in schedule.day_of_month
            or day.isoweekday() % 7 not in schedule.day_of_week  # crontab: 0 is Sunday
        ):
            continue
        for hour in sorted(schedule.hour):
            for minute in sorted(schedule.minute):
                at = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)
                if at > now:
                    return at
    return None


def _cadence() -> str:
    """The daily job's schedule in words ("every day at 04:07 UTC") when it is one time a day."""
    schedule = _schedule()
    try:
        (hour,), (minute,) = schedule.hour, schedule.minute
    except (AttributeError, TypeError, ValueError):
        return ""
    if (
        len(schedule.day_of_week) == 7
        and len(schedule.day_of_month) == 31
        and len(schedule.month_of_year) == 12
    ):
        return f"every day at {hour:02d}:{minute:02d} UTC"
    return ""


def _subscription(request, pk: int) -> Subscription:
    sub = access.restrict(Subscription.objects.filter(pk=pk), request.user).select_related("tenant").first()
    if sub is None:
        raise Http404("No such resource.")
    return sub


def may_apply(principal, subscription: Subscription) -> bool:
    """A run deletes and changes resources of the subscription: it takes both write and delete there."""
    return access.allowed(principal, Action.WRITE, subscription) and access.allowed(
        principal, Action.DELETE, subscription
    )


def _label(arm_id: str) -> str:
    """A definition or version by its path in the gallery (``Gallery1/myImage1/1.0.0``)."""
    if GALLERY_PATH in arm_id:
        return "/".join(arm_id.split(GALLERY_PATH, 1)[1].split("/")[::2])
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


def _region_names(names) -> dict[str, str]:
    return dict(Region.objects.filter(name__in=set(names)).values_list("name", "display_name"))


def _rows(actions: list[dict]) -> list[dict]:
    """Plan lines (``Action``s as dicts, or a run's saved actions) as the tables show them."""
    regions = _region_names(r for a in actions for r in a.get("regions", []))
    return [
        {
            **a,
            "kind_label": KIND_LABELS.get(a["kind"], a["kind"]),
            "label": _label(a["arm_id"]),
            "region_labels": [regions.get(r, r) for r in a.get("regions", [])],
            "outcome_label": LifecycleRun.OUTCOMES.get(a.get("outcome", ""), a.get("outcome", "")),
        }
        for a in actions
    ]


def _runs(subscription: Subscription) -> list[LifecycleRun]:
    """The last runs that concern the subscription — limited to it, or over every subscription — each
    with only this subscription's actions."""
    prefix = f"/subscriptions/{subscription.guid}/".lower()
    runs = list(
        LifecycleRun.objects.filter(Q(subscription=subscription) | Q(subscription__isnull=True))
        .select_related("principal")
        .order_by("-created_at", "-pk")[:RECENT_RUNS]
    )
    for run in runs:
        mine = [a for a in run.actions if a["arm_id"].lower().startswith(prefix)]
        run.rows = _rows(mine)
        outcomes: dict[str, int] = {}
        for a in run.rows:
            outcomes[a["outcome_label"]] = outcomes.get(a["outcome_label"], 0) + 1
        run.outcomes = sorted(outcomes.items())
        run.status_label = "Not finished" if run.status == LifecycleRun.Status.RUNNING else run.status
    return runs


@login_required
def subscription_lifecycle(request, pk: int):
    """The next run's plan for the subscription, when it runs, the last runs; "Apply now"."""
    sub = _subscription(request, pk)
    now = timezone.now()
    actions = lifecycle.plan(now, subscription=sub)
    rows = _rows([a.as_row() for a in actions])
    context = {
        "resource": sub,
        "subscription": sub,
        "plan": rows,
        "changes": sum(1 for a in actions if a.is_change),
        "kept": sum(1 for a in actions if not a.is_change),
        "next_run": next_run(now),
        "cadence": _cadence(),
        "runs": _runs(sub),
        "can_apply": may_apply(request.user, sub),
    }
    return render(request, "galleries/lifecycle.html", context)


@login_required
@require_POST
def subscription_lifecycle_apply(request, pk: int):
    """Carry out the subscription's plan now, as the caller; the page then shows the outcome."""
    sub = _subscription(request, pk)
    if not may_apply(request.user, sub):
        raise PermissionDenied(
            "Applying the lifecycle plan deletes and changes resources: it takes write and delete permission "
            "on the subscription (Owner or Contributor). Ask someone with the Owner role to grant it."
        )
    try:
        report = lifecycle.run(
            dry_run=False,
            caller=Caller.from_request(request),
            subscription=sub,
            trigger=LifecycleRun.Trigger.PORTAL,
        )
    except ServiceError as err:  # pragma: no cover - each action's refusal is reported, not raised
        messages.error(request, err.message)
    else:
        (messages.warning if report.errors else messages.success)(request, report.message)
    return redirect("subscription-lifecycle", pk=sub.pk)


urlpatterns = [
    path("subscriptions/<int:pk>/lifecycle/", subscription_lifecycle, name="subscription-lifecycle"),
    path(
        "subscriptions/<int:pk>/lifecycle/apply",
        subscription_lifecycle_apply,
        name="subscription-lifecycle-apply",
    ),
]
