"""Cost (F16): what publishing an image version costs, before and after it exists.

The Shared Image Gallery service itself is free. What costs money (the seed's "Billing" paragraph):

* **storage** of every replica: Σ over target regions of replicas × total disk size × the price of
  that region's storage account type, per month. "2 images replicated to 3 regions are charged as
  6 managed disks";
* **network egress**, once: the first copy into each target region other than the source region
  comes from the source region (F9). Further replicas are copied inside their region, and the source
  region's own replicas never leave it, so neither adds egress.

Prices come from ``settings.COST_PRICES`` (see the Cost block of ``portal/settings/base.py``), read
at every call so a changed table (or a test's ``settings`` override) applies at once.

Money is ``Decimal`` throughout. Breakdown lines keep exact values (a 3 MiB test disk costs fractions
of a cent, and rounding each line first would make the lines stop adding up to the total); only
totals are rounded to cents, at the edge, by :func:`money`.

The validation of target regions is not re-implemented here: :func:`estimate_for_specs` goes
through ``checks.clean_targets`` and ``regions.resolve_region``, the same code
``services.create_version`` uses, so an estimate accepts and refuses exactly what a create would.
These functions do not check access: callers (pages, API) pass only what the principal may read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Prefetch, QuerySet

from accounts.models import Subscription

from . import services
from .models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    Region,
    StorageAccountType,
    TargetRegion,
    VersionDisk,
)
from .regions import normalize
from .services import checks

GIB = 2**30
CENT = Decimal("0.01")
# bytes / 2**30 always terminates but can need ~30 fractional digits; the default 28-digit context
# would round the breakdown. 100 digits keep every product and sum here exact.
_PRECISION = 100

FREE_SERVICE_NOTE = (
    "The Shared Image Gallery service itself is free. You pay for the storage of every replica "
    "(replicas × disk size × the price of the storage type in each region, per month) and, once, for "
    "the network egress of the first copy into each target region other than the source region; "
    "further replicas are copied within their region at no extra charge."
)

TargetTriple = tuple[Region | str, int, str]


def money(value: Decimal) -> Decimal:
    """Round an amount to cents (half up), for display and totals only; never round the lines."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def gib(size_bytes: int) -> Decimal:
    """Bytes as GiB (2**30 bytes), exactly."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(size_bytes) / GIB


def _region_name(region: Region | str) -> str:
    """A region's name for price lookups: a Region's ``name``, or the given text normalized the way
    ``regions.normalize`` does (``West Europe`` → ``westeurope``)."""
    return region.name if isinstance(region, Region) else normalize(region)


def _canonical_type(storage_account_type: str) -> str:
    for choice in StorageAccountType:
        if str(storage_account_type).lower() == choice.value.lower():
            return choice.value
    return str(storage_account_type)


# --- The price table ----------------------------------------------------------------------------------


def _amount(value: Any, where: str) -> Decimal:
    """A configured price as an exact Decimal. Floats (from JSON) go through ``str`` so 0.0625 stays
    0.0625 and not its binary approximation."""
    if isinstance(value, bool):
        raise ImproperlyConfigured(f"COST_PRICES{where} must be a number, not {value!r}.")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ImproperlyConfigured(f"COST_PRICES{where} must be a number, not {value!r}.") from None
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"COST_PRICES{where} must be a non-negative number, not {value!r}.")
    return amount


@dataclass(frozen=True)
class PriceTable:
    """``settings.COST_PRICES``, checked and converted to Decimals once per calculation."""

    currency: str
    storage_per_gib_month: Mapping[str, Decimal]
    region_overrides: Mapping[str, Mapping[str, Decimal]]
    egress_per_gib: Decimal

    @classmethod
    def from_settings(cls) -> PriceTable:
        raw = getattr(settings, "COST_PRICES", None)
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured("COST_PRICES must be a mapping (see portal/settings/base.py).")
        for key in ("storage_per_gib_month", "egress_per_gib"):
            if key not in raw:
                raise ImproperlyConfigured(f"COST_PRICES has no '{key}'.")
        storage = raw["storage_per_gib_month"]
        overrides = raw.get("region_overrides") or {}
        if not isinstance(storage, Mapping) or not isinstance(overrides, Mapping):
            raise ImproperlyConfigured(
                "COST_PRICES['storage_per_gib_month'] and ['region_overrides'] must be mappings."
            )
        parsed_overrides: dict[str, dict[str, Decimal]] = {}
        for region, prices in overrides.items():
            if not isinstance(prices, Mapping):
                raise ImproperlyConfigured(
                    f"COST_PRICES['region_overrides'][{region!r}] must map storage types to prices."
                )
            parsed_overrides[normalize(region)] = {
                _canonical_type(t): _amount(p, f"['region_overrides'][{region!r}][{t!r}]")
                for t, p in prices.items()
            }
        return cls(
            currency=str(raw.get("currency") or "USD"),
            storage_per_gib_month={
                _canonical_type(t): _amount(p, f"['storage_per_gib_month'][{t!r}]")
                for t, p in storage.items()
            },
            region_overrides=parsed_overrides,
            egress_per_gib=_amount(raw["egress_per_gib"], "['egress_per_gib']"),
        )

    def storage(self, region: Region | str, storage_account_type: str) -> Decimal:
        """Price per GiB-month: the region's override first, then the default for the type."""
        stype = _canonical_type(storage_account_type)
        override = self.region_overrides.get(_region_name(region), {})
        if stype in override:
            return override[stype]
        if stype not in self.storage_per_gib_month:
            raise ImproperlyConfigured(
                f"COST_PRICES['storage_per_gib_month'] has no price for {stype}; add one."
            )
        return self.storage_per_gib_month[stype]


def price_per_gib_month(region: Region | str, storage_account_type: str) -> Decimal:
    """The configured price of one GiB of ``storage_account_type`` for a month in ``region``
    (a Region or its name; a per-region override wins over the default price of the type)."""
    return PriceTable.from_settings().storage(region, storage_account_type)


# --- Estimates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One target region of an estimate. Amounts are exact (not rounded)."""

    region: str
    region_display_name: str
    replicas: int
    storage_account_type: str
    gib: Decimal  # one copy of the version (all its disks)
    price_per_gib_month: Decimal
    monthly: Decimal  # replicas × gib × price
    egress_gib: Decimal  # gib for the first copy into a non-source region, else 0
    egress: Decimal  # egress_gib × egress price, one-time
    is_source: bool


class _Rounded:
    """Money rounded to cents at the edge only; the exact figures stay available."""

    monthly_storage_exact: Decimal
    egress_exact: Decimal

    @property
    def monthly_storage(self) -> Decimal:
        """Storage per month, rounded to cents."""
        return money(self.monthly_storage_exact)

    @property
    def one_time_egress(self) -> Decimal:
        """Egress of the first copy into each non-source region, once, rounded to cents."""
        return money(self.egress_exact)


@dataclass(frozen=True)
class CostEstimate(_Rounded):
    """The cost of one version (existing or planned): exact per-region lines, rounded totals."""

    currency: str
    source_region: str
    size_bytes: int
    gib: Decimal
    disk_count: int
    lines: tuple[CostLine, ...]
    monthly_storage_exact: Decimal
    egress_exact: Decimal
    note: str = FREE_SERVICE_NOTE

    @property
    def copies(self) -> int:
        """Full copies of the version stored over all regions (Σ replicas)."""
        return sum(line.replicas for line in self.lines)

    @property
    def managed_disks(self) -> int:
        """Managed disks billed: every copy holds each of the version's disks."""
        return self.copies * self.disk_count


def estimate(
    source_region: Region | str,
    disks_total_bytes: int,
    targets: Iterable[TargetTriple],
    *,
    disk_count: int = 1,
    existing_regions: Collection[Region | str] = (),
    prices: PriceTable | None = None,
) -> CostEstimate:
    """Cost of a version of ``disks_total_bytes`` (all its disks) published from ``source_region``
    to ``targets`` — (region, replica_count, storage_account_type) triples, regions as Region or
    name. A plain calculator: it trusts its input (use :func:`estimate_for_specs` for user input).
    Lines come source region first, then by region name.

    ``existing_regions`` names regions that are already targets of the version being changed: their
    first copy is made (or under way) and paid for already, so they add no egress again."""
    if isinstance(disks_total_bytes, bool) or not isinstance(disks_total_bytes, int) or disks_total_bytes < 0:
        raise ValueError(f"disks_total_bytes must be a non-negative int, not {disks_total_bytes!r}")
    table = prices or PriceTable.from_settings()
    source = _region_name(source_region)
    present = {_region_name(r) for r in existing_regions}
    lines: list[CostLine] = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        size = gib(disks_total_bytes)
        zero = Decimal(0)
        for region, replicas, stype in targets:
            if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
                raise ValueError(f"replica count must be a non-negative int, not {replicas!r}")
            name = _region_name(region)
            price = table.storage(region, stype)
            is_source = name == source
            egress_gib = zero if is_source or name in present else size
            lines.append(
                CostLine(
                    region=name,
                    region_display_name=region.display_name if isinstance(region, Region) else str(region),
                    replicas=replicas,
                    storage_account_type=_canonical_type(stype),
                    gib=size,
                    price_per_gib_month=price,
                    monthly=replicas * size * price,
                    egress_gib=egress_gib,
                    egress=egress_gib * table.egress_per_gib,
                    is_source=is_source,
                )
            )
        # One order whatever the caller's: the source region first, then by name.
        lines.sort(key=lambda line: (not line.is_source, line.region))
        monthly = sum((line.monthly for line in lines), zero)
        egress = sum((line.egress for line in lines), zero)
    return CostEstimate(
        currency=table.currency,
        source_region=source,
        size_bytes=disks_total_bytes,
        gib=size,
        disk_count=disk_count,
        lines=tuple(lines),
        monthly_storage_exact=monthly,
        egress_exact=egress,
    )


def _version_estimate(
    version: GalleryImageVersion,
    disks: Sequence[VersionDisk],
    rows: Sequence[TargetRegion],
    table: PriceTable,
) -> CostEstimate:
    """Estimate of a version from its disks and target-region rows (with their regions). Regions
    being removed are left out: their replicas are on their way out, no longer part of the version."""
    rows = [t for t in rows if not t.removing]
    source: Region | None = next((t.region for t in rows if t.region_id == version.location_id), None)
    return estimate(
        source if source is not None else version.location,
        sum(d.size_bytes for d in disks),
        [(t.region, t.replica_count, t.storage_account_type) for t in rows],
        disk_count=len(disks),
        prices=table,
    )


def _current_rows(version: GalleryImageVersion) -> tuple[list[VersionDisk], list[TargetRegion]]:
    """The version's disks and target regions, read now. Deliberately not cached on the instance
    (no ``prefetch_related_objects``): the caller may go on to change the version with the services,
    which read ``version.target_regions.all()`` and must not see a stale cache we left behind."""
    disks = list(VersionDisk.objects.filter(version=version))
    rows = list(TargetRegion.objects.filter(version=version).select_related("region"))
    return disks, rows


def version_cost(version: GalleryImageVersion) -> CostEstimate:
    """The cost of an existing version: its disks, in its current (not removing) target regions.
    The egress is what its replication cost (or costs) once, not a monthly charge. Two queries;
    for many versions use :func:`monthly_totals`."""
    disks, rows = _current_rows(version)
    return _version_estimate(version, disks, rows, PriceTable.from_settings())


def _planned_targets(
    subscription: Subscription, location, target_specs, replica_count, storage_account_type
) -> tuple[Region, list]:
    """Target regions exactly as ``create_version`` resolves and checks them: the same helpers, the
    same ServiceError codes and property paths."""
    region = services.source_region(location)
    common = (
        checks.check_count(
            replica_count, f"{services.PP}.replicaCount", "replica count", 1, services.MAX_REPLICAS
        )
        or 1
    )
    stype = checks.check_choice(
        storage_account_type or StorageAccountType.STANDARD_LRS,
        StorageAccountType,
        f"{services.PP}.storageAccountType",
        "storage account type",
    )
    specs = target_specs if target_specs is not None else [services.TargetRegionSpec(region)]
    return region, checks.clean_targets(subscription, region, specs, common, stype)


def estimate_for_specs(
    subscription: Subscription,
    location: Region | str,
    source_disks_total_bytes: int,
    target_specs: Sequence[services.TargetRegionSpec | Region | str] | None,
    replica_count: int | None = 1,
    storage_account_type: str = StorageAccountType.STANDARD_LRS,
    *,
    disk_count: int = 1,
) -> CostEstimate:
    """The estimate shown before a version is created: the same arguments ``create_version`` takes
    for its publishing profile, validated by the same code (names or display names, duplicates,
    clouds, restricted regions, replica counts, ZRS needs zones, the source region among the
    targets). Raises the ServiceError a create would raise. ``None`` targets mean the source region
    only, as in ``create_version``. Rules about the source itself (a source region holding the
    source, OS type...) are left to ``create_version``: they do not change the price."""
    region, targets = _planned_targets(
        subscription, location, target_specs, replica_count, storage_account_type
    )
    return estimate(
        region,
        source_disks_total_bytes,
        [(t.region, t.replica_count, t.storage_account_type) for t in targets],
        disk_count=disk_count,
    )


def estimate_for_version_change(
    version: GalleryImageVersion,
    target_specs: Sequence[services.TargetRegionSpec | Region | str] | None,
    replica_count: int | None = None,
) -> CostEstimate:
    """The estimate shown before a version's target regions (or common replica count) change, as
    ``update_version(target_regions=..., replica_count=...)`` would apply them: a region the version
    already has keeps its storage type unless the spec names one (``update_version`` refuses a
    different one), and a region that is already a target adds no egress (a removed region
    added back counts as new). ``None`` targets: the regions stay as they are, as in
    ``update_version``. The refusals are those of ``services.plan_targets``, which ``update_version`` uses too."""
    disks, rows = _current_rows(version)
    common = (
        checks.check_count(
            replica_count, f"{services.PP}.replicaCount", "replica count", 1, services.MAX_REPLICAS
        )
        or version.replica_count
    )
    if target_specs is None:  # regions not given: update_version leaves them as they are
        target_specs = [
            services.TargetRegionSpec(
                t.region, t.replica_count, t.storage_account_type, t.exclude_from_latest
            )
            for t in rows
            if not t.removing
        ]
    targets = services.plan_targets(version, target_specs, common)
    return estimate(
        version.location,
        sum(d.size_bytes for d in disks),
        [(t.region, t.replica_count, t.storage_account_type) for t in targets],
        disk_count=len(disks),
        existing_regions=[t.region for t in rows if not t.removing],
    )


# --- Monthly totals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostTotal(_Rounded):
    """Sum over a set of versions. ``one_time_egress`` is what replicating them to their current
    regions costs once; it is not part of the monthly figure."""

    currency: str
    monthly_storage_exact: Decimal
    egress_exact: Decimal
    versions: int
    copies: int
    managed_disks: int
    note: str = FREE_SERVICE_NOTE


@dataclass(frozen=True)
class ChildCost:
    """One child of a total: a version (with its estimate), a definition or a gallery."""

    resource: Model
    total: CostTotal
    estimate: CostEstimate | None = None


@dataclass(frozen=True)
class CostBreakdown:
    """A total and the per-child totals it is the sum of."""

    total: CostTotal
    children: tuple[ChildCost, ...]


def _sum(estimates: Iterable[CostEstimate], currency: str) -> CostTotal:
    estimates = list(estimates)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        monthly = sum((e.monthly_storage_exact for e in estimates), Decimal(0))
        egress = sum((e.egress_exact for e in estimates), Decimal(0))
    return CostTotal(
        currency=currency,
        monthly_storage_exact=monthly,
        egress_exact=egress,
        versions=len(estimates),
        copies=sum(e.copies for e in estimates),
        managed_disks=sum(e.managed_disks for e in estimates),
    )


def monthly_totals(versions: QuerySet[GalleryImageVersion]) -> CostBreakdown:
    """Per-version estimates and their sum, in three queries whatever the number of versions
    (versions, their disks, their target regions with regions). Versions being deleted still count:
    their replicas are stored until the region workers remove them."""
    table = PriceTable.from_settings()
    rows = list(
        versions.prefetch_related(
            "disks", Prefetch("target_regions", queryset=TargetRegion.objects.select_related("region"))
        )
    )
    children = []
    for v in rows:
        est = _version_estimate(v, v.disks.all(), v.target_regions.all(), table)
        children.append(ChildCost(resource=v, total=_sum([est], table.currency), estimate=est))
    return CostBreakdown(total=_sum([c.estimate for c in children], table.currency), children=tuple(children))


def grouped(parents: Sequence[Model], versions: CostBreakdown, key: str, currency: str) -> CostBreakdown:
    by_parent: dict[int, list[CostEstimate]] = {p.pk: [] for p in parents}
    for child in versions.children:
        by_parent.setdefault(getattr(child.resource, key), []).append(child.estimate)
    children = tuple(ChildCost(resource=p, total=_sum(by_parent[p.pk], currency)) for p in parents)
    return CostBreakdown(total=versions.total, children=children)


def definition_cost(definition: GalleryImage) -> CostBreakdown:
    """A definition's monthly total and one child per version (newest first)."""
    return monthly_totals(GalleryImageVersion.objects.filter(definition=definition).numeric_order())


def gallery_cost(gallery: Gallery) -> CostBreakdown:
    """A gallery's monthly total and one child per image definition (those without versions at 0)."""
    definitions = list(GalleryImage.objects.filter(gallery=gallery).order_by("name"))
    versions = monthly_totals(GalleryImageVersion.objects.filter(gallery=gallery))
    return grouped(definitions, versions, "definition_id", versions.total.currency)


def subscription_cost(subscription: Subscription) -> CostBreakdown:
    """A subscription's monthly total and one child per gallery (those without versions at 0)."""
    galleries = list(Gallery.objects.filter(subscription=subscription).order_by("name"))
    versions = monthly_totals(GalleryImageVersion.objects.filter(subscription=subscription))
    return grouped(galleries, versions, "gallery_id", versions.total.currency)
