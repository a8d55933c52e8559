"""Per-subscription-per-region limits (F15): the usage counters, taken and given back atomically."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from accounts.models import Subscription
from portal.core.errors import ServiceError

from .models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    Region,
    UsageCounter,
)


def reserve(subscription: Subscription, region: Region, kind: str) -> None:
    """Take one unit of a per-subscription-per-region limit, atomically: one conditional UPDATE that
    only succeeds below the limit. Concurrent callers serialize on the counter row (PostgreSQL row
    lock; SQLite's single writer), so exactly as many succeed as there is room for."""
    UsageCounter.objects.bulk_create(
        [UsageCounter(subscription=subscription, region=region, kind=kind)], ignore_conflicts=True
    )
    limit = Subscription.objects.values_list(f"limit_{kind}", flat=True).get(pk=subscription.pk)
    taken = UsageCounter.objects.filter(
        subscription=subscription, region=region, kind=kind, count__lt=limit
    ).update(count=F("count") + 1)
    if not taken:
        plural = {"galleries": "galleries", "definitions": "image definitions", "versions": "image versions"}[
            kind
        ]
        singular = {"galleries": "gallery", "definitions": "image definition", "versions": "image version"}[
            kind
        ]
        raise ServiceError(
            ServiceError.QUOTA_EXCEEDED,
            f"The subscription '{subscription.display_name}' already has {limit} "
            f"{singular if limit == 1 else plural} in {region.display_name}, its limit there. Delete unused "
            f"{plural} or ask an administrator to raise the limit.",
            "location",
        )


def release(subscription_id: int, region_id: int, kind: str) -> None:
    UsageCounter.objects.filter(
        subscription_id=subscription_id, region_id=region_id, kind=kind, count__gt=0
    ).update(count=F("count") - 1)


def usage(subscription: Subscription) -> list[dict]:
    """Each count against its limit, per region where the subscription has anything (F15)."""
    rows = (
        UsageCounter.objects.filter(subscription=subscription)
        .select_related("region")
        .order_by("region__name")
    )
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row.region.name, {"region": row.region, "counts": {}})
        entry["counts"][row.kind] = {"current": row.count, "limit": subscription.limit_for(row.kind)}
    for entry in out.values():
        for kind in Subscription.DEFAULT_LIMITS:
            entry["counts"].setdefault(kind, {"current": 0, "limit": subscription.limit_for(kind)})
    return list(out.values())


def reconcile_usage() -> int:
    """Recount every counter from the resources themselves; returns how many were corrected."""
    fixed = 0
    kinds = {"galleries": Gallery, "definitions": GalleryImage, "versions": GalleryImageVersion}
    with transaction.atomic():
        actual: dict[tuple, int] = {}
        for kind, model in kinds.items():
            for sub_id, region_id in model.objects.values_list("subscription_id", "location_id"):
                actual[(sub_id, region_id, kind)] = actual.get((sub_id, region_id, kind), 0) + 1
        seen = set()
        for counter in UsageCounter.objects.select_for_update():
            key = (counter.subscription_id, counter.region_id, counter.kind)
            seen.add(key)
            if counter.count != actual.get(key, 0):
                counter.count = actual.get(key, 0)
                counter.save(update_fields=["count"])
                fixed += 1
        for (sub_id, region_id, kind), n in actual.items():
            if (sub_id, region_id, kind) not in seen:
                UsageCounter.objects.create(subscription_id=sub_id, region_id=region_id, kind=kind, count=n)
                fixed += 1
    return fixed
