"""Replica advisor (F11): how many replicas a region needs for the deployments planned there.

The capacity of one replica is F10's: it serves at most **20 concurrent VM creations** and **one
scale set of up to 600 instances** at a time. Both capacities are independent (a replica serving a
scale set still serves its 20 VM creations), so a region needs::

    needed = max(ceil(concurrent VMs / 20), Σ over concurrent scale sets of ceil(instances / 600))

— a scale set of more than 600 instances occupies ``ceil(n / 600)`` replicas (a 1,000-instance set
from a gallery image needs 2).

**Headroom rule** (the "rounded up with headroom" of F11): the recommendation adds 20 % of the need,
rounded up — so always at least one spare replica when there is any load — and is capped at 50, the
most replicas a region may have (F7)::

    recommended = min(50, needed + ceil(needed / 5))      (needed ≥ 1)
    recommended = 1                                        (no load: a target region has ≥ 1 replica)

The spare replica keeps creations from waiting while a replica is being repaired by the scrub or
copied again, and absorbs bursts above the plan. When even 50 replicas do not cover the need
(``needed > 50``) the advice says so (``exceeds_limit``): stagger the deployments or spread them
over more regions.

Pure functions, no database: the pages pass the current counts and apply the advice through
``services.update_version``. Bad input is refused with a ``ServiceError`` naming the field, as the
services do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from portal.core import limits
from portal.core.errors import ServiceError

# The capacities of a replica and the bounds are the deployments' and the services' own (one source).
from .deployments.rules import MAX_SCALE_SET_FROM_GALLERY as MAX_SCALE_SET_INSTANCES
from .deployments.rules import SCALE_SET_INSTANCES_PER_REPLICA, VMS_PER_REPLICA
from .services.checks import MAX_REPLICAS

__all__ = [
    "MAX_REPLICAS",
    "MAX_SCALE_SET_INSTANCES",
    "SCALE_SET_INSTANCES_PER_REPLICA",
    "VMS_PER_REPLICA",
]

HEADROOM_PERCENT = 20


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _whole(value, target: str, what: str, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError.invalid(target, f"The {what} must be a whole number; '{value}' was given.")
    if value < 0 or (high is not None and value > high):
        bound = f"between 0 and {high:,}" if high is not None else "0 or more"
        raise ServiceError.invalid(target, f"The {what} must be {bound}; {value} was given.")
    return value


def needed_replicas(concurrent_vms: int = 0, scale_sets: Iterable[int] = ()) -> int:
    """The fewest replicas that serve the load without any creation waiting (0 without load)."""
    for_vms = _ceil_div(concurrent_vms, VMS_PER_REPLICA)
    for_scale_sets = sum(_ceil_div(n, SCALE_SET_INSTANCES_PER_REPLICA) for n in scale_sets if n > 0)
    return max(for_vms, for_scale_sets)


def with_headroom(needed: int) -> int:
    """The recommended count for a need: +20 % rounded up (at least +1), at least 1, at most 50."""
    if needed <= 0:
        return 1
    return min(MAX_REPLICAS, needed + _ceil_div(needed * HEADROOM_PERCENT, 100))


@dataclass(frozen=True)
class RegionLoad:
    """The deployments planned at the same time in one region."""

    region: str
    concurrent_vms: int = 0
    scale_sets: tuple[int, ...] = field(default_factory=tuple)  # instances of each concurrent scale set

    @property
    def empty(self) -> bool:
        return not self.concurrent_vms and not any(self.scale_sets)


@dataclass(frozen=True)
class Advice:
    """The recommendation for one region, compared with its current replica count."""

    region: str
    load: RegionLoad
    needed: int
    recommended: int
    current: int | None = None

    @property
    def exceeds_limit(self) -> bool:
        """Even the maximum of 50 replicas leaves creations waiting."""
        return self.needed > MAX_REPLICAS

    @property
    def change(self) -> int:
        """Replicas to add (positive) or that could go (negative); 0 without a current count."""
        return 0 if self.current is None else self.recommended - self.current

    @property
    def status(self) -> str:
        """``under`` (creations would wait today), ``below`` (enough, but without the headroom),
        ``ok``, ``over`` (more than recommended: costs storage), or ``new`` (no current count)."""
        if self.current is None:
            return "new"
        if self.current < self.needed:
            return "under"
        if self.current < self.recommended:
            return "below"
        return "ok" if self.current == self.recommended else "over"


def recommend(load: RegionLoad, current: int | None = None) -> Advice:
    needed = needed_replicas(load.concurrent_vms, load.scale_sets)
    return Advice(
        region=load.region, load=load, needed=needed, recommended=with_headroom(needed), current=current
    )


def advise(loads: Iterable[RegionLoad], current: Mapping[str, int] | None = None) -> list[Advice]:
    """One advice per planned region, in the order given, compared with ``current`` counts by region."""
    current = current or {}
    return [recommend(load, current.get(load.region)) for load in loads]


# --- Parsing what a person types -------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,;]+")


def parse_count(text, target: str, what: str = "number of concurrent VM creations") -> int:
    """A whole number ≥ 0 from a form field; blank is 0."""
    if text is None or str(text).strip() == "":
        return 0
    raw = str(text).strip().replace("_", "")
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 9:
        raise ServiceError.invalid(
            target, f"The {what} must be a whole number, 0 or more; '{limits.quote(text)}' was given."
        )
    return _whole(int(raw), target, what)


def parse_scale_sets(text, target: str) -> tuple[int, ...]:
    """Instance counts of the concurrent scale sets, e.g. ``"300, 800"``; blank is none."""
    if text is None or not str(text).strip():
        return ()
    out = []
    for part in _SEPARATORS.split(str(text).strip()):
        if not part:
            continue
        if not (part.isascii() and part.isdecimal()) or len(part) > 9:
            raise ServiceError.invalid(
                target,
                f"List the instance count of each concurrent scale set as whole numbers separated by commas "
                f"(e.g. 300, 800); '{limits.quote(part)}' is not one.",
            )
        n = int(part)
        if not 1 <= n <= MAX_SCALE_SET_INSTANCES:
            raise ServiceError.invalid(
                target,
                f"A scale set from a gallery image has 1 to {MAX_SCALE_SET_INSTANCES:,} instances; {n:,} was given.",
            )
        out.append(n)
    return tuple(out)


def load_from_text(region: str, vms_text, scale_sets_text, target: str) -> RegionLoad:
    """A region's planned load from the two form fields; ``target`` prefixes the error paths."""
    return RegionLoad(
        region=region,
        concurrent_vms=parse_count(vms_text, f"{target}.concurrentVMs"),
        scale_sets=parse_scale_sets(scale_sets_text, f"{target}.scaleSets"),
    )
