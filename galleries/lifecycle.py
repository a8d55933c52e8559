"""Lifecycle automation (F18): end-of-life dates drive a scheduled clean-up, with a dry run first, and a
per-definition policy trims older versions down to their source region.

``plan()`` computes what is due without changing anything; ``run()`` shows that plan (a dry run) or
carries out exactly that plan through the service layer (a real run). Both use the same ``plan()``,
so a dry run lists exactly what the real run then does.

What is due, at ``now``:

1. Every image version whose end-of-life date has passed is deleted (``delete_version``). Versions
   already being deleted (provisioning state ``Deleting``) are left to the workers.
2. Every image definition whose end-of-life date has passed is deleted together with its versions:
   first its remaining versions (``delete_version``), then the definition (``delete_definition``).
3. For every definition with the ``TrimOlderToSource`` policy (the seed's example: "always replicate
   the latest image in multi-regions while all older versions are only available in 1 region"), region
   by region: the version that is latest *there* (F8: the highest version, not excluded from latest
   globally or for that region, Completed there — counting only versions that survive this plan)
   keeps that region. An older version is trimmed (``trim_version``) only of the regions where a newer
   version is the latest, and never of its source region. So no region loses its last usable
   version: where the newest is still replicating (or failed, or is excluded from latest), the latest
   among the versions Completed there keeps the region until a later run. Each trim's reason names,
   per removed region, the version that is latest there.
4. Versions that existing deployments came from (``Deployment.source_version``; any state but
   Failed — a deleted deployment has no row) are, unless their definition's ``lifecycle_keep_deployed``
   is off, neither deleted by end of life nor trimmed of a region such a deployment runs in. The plan
   shows them as ``keep`` actions ("kept: 2 deployment(s) came from it: web1, web2; …"; deployments in
   other subscriptions are counted, not named), which a run never carries out. A definition past its
   end of life stays (``keep``) while such a version of it does. With the setting off, the reasons of
   the deletions and trims still say how many deployments came from the version.

Actions come deletes first (version deletions, then definition deletions), then trims, then what is
kept; each kind ordered by ARM id.

The record. A real run saves its plan as a ``LifecycleRun`` before it acts, marks each action
``started`` before carrying it out and its outcome after, then the run's status and counts: a run
that stops half-way leaves a row that shows what was planned and what had been done.

Deferred definition deletions. A version that has replicas is not deleted at once: it goes to
``Deleting`` while each region's worker removes its replica files, and disappears when the last one
is gone. A definition can only be deleted once it has no version left, so when its versions are
still being deleted the real run reports the definition's deletion as *deferred* (not an error, and
no refused attempt is logged); the next scheduled run plans it again and deletes it then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone

from accounts.activity import Caller, Change
from accounts.models import ActivityLogEntry, Subscription
from portal.core.errors import ServiceError

from . import services
from .models import GalleryImage, GalleryImageVersion, Region, TargetRegion
from .models_deploy import Deployment
from .models_lifecycle import LifecycleRun

DELETE_VERSION = "delete_version"
DELETE_DEFINITION = "delete_definition"
TRIM_VERSION = "trim_version"
#: Shown in the plan, never carried out: a version (or a definition) that deployments came from.
KEEP = "keep"
KIND_ORDER = {DELETE_VERSION: 0, DELETE_DEFINITION: 1, TRIM_VERSION: 2, KEEP: 3}
CHANGES = (DELETE_VERSION, DELETE_DEFINITION, TRIM_VERSION)
OPERATION = "Microsoft.Compute/galleries/lifecycle/action"
PS = GalleryImageVersion.ProvisioningState


@dataclass
class Action:
    """One line of the plan: delete a version, delete a definition, trim a version of some regions
    (``regions``: the region names removed), or keep (``KEEP``: a version that deployments came from,
    or a definition whose such versions stay — shown, never carried out; ``regions``: the regions a
    trim would have removed and the deployments keep)."""

    kind: str
    arm_id: str
    name: str
    reason: str
    regions: list[str] = field(default_factory=list)
    pk: int | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.arm_id)

    @property
    def is_change(self) -> bool:
        return self.kind != KEEP

    def as_row(self) -> dict:
        """The action as a run stores it and the plan page lists it."""
        return {
            "kind": self.kind,
            "arm_id": self.arm_id,
            "name": self.name,
            "reason": self.reason,
            "regions": self.regions,
            "pk": self.pk,
        }


@dataclass
class Report:
    """The plan (``actions``, the kept ones included) and, for a real run, what became of each
    change: ``done`` (carried out; ``in_progress`` lists the version deletions among them whose replicas
    the workers are still removing), ``deferred`` (a definition whose versions are still being deleted:
    the next run deletes it), ``skipped`` (the resource was already gone) and ``errors`` (refused by the
    service layer). ``record`` is the ``LifecycleRun`` row of a real run."""

    actions: list[Action]
    dry_run: bool = True
    now: datetime | None = None
    done: list[Action] = field(default_factory=list)
    in_progress: list[Action] = field(default_factory=list)
    deferred: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[tuple[Action, str]] = field(default_factory=list)
    errors: list[tuple[Action, str]] = field(default_factory=list)
    record: object = None

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.is_change]

    @property
    def kept(self) -> list[Action]:
        return [a for a in self.actions if not a.is_change]

    def counts(self) -> dict[str, int]:
        planned = {kind: 0 for kind in CHANGES}
        for a in self.changes:
            planned[a.kind] += 1
        return {
            "planned": len(self.changes),
            **{f"planned_{kind}": n for kind, n in planned.items()},
            "kept": len(self.kept),
            "done": len(self.done),
            "in_progress": len(self.in_progress),
            "deferred": len(self.deferred),
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def summary(self) -> dict:
        return {"dry_run": self.dry_run, **self.counts()}

    @property
    def message(self) -> str:
        c = self.counts()
        if self.dry_run:
            return f"Lifecycle dry run: {c['planned']} action(s) planned ({_kinds(c)}); nothing was changed."
        return (
            f"Lifecycle run: {c['planned']} action(s) planned ({_kinds(c)}); {c['done']} done"
            f" ({c['in_progress']} version deletion(s) still removing replicas), {c['deferred']} deferred to "
            f"the next run, {c['skipped']} skipped, {c['errors']} refused."
        )


def _kinds(c: dict) -> str:
    kinds = (
        f"{c['planned_delete_version']} version deletion(s), {c['planned_delete_definition']} definition "
        f"deletion(s), {c['planned_trim_version']} trim(s)"
    )
    if c["kept"]:
        kinds += f"; {c['kept']} kept for deployments"
    return kinds


def _when(value: datetime) -> str:
    """An end-of-life date as a person reads it: the day, or the day and time when not midnight UTC."""
    value = value.astimezone(UTC)
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.strftime("%Y-%m-%d %H:%M UTC")


def resolve_subscription(subscription) -> Subscription | None:
    """A ``Subscription``, or its GUID (string or UUID); ``None`` means every subscription."""
    if subscription is None or isinstance(subscription, Subscription):
        return subscription
    try:
        guid = uuid.UUID(str(subscription))
    except ValueError:
        raise ServiceError.invalid(
            "subscription", f"'{subscription}' is not a subscription id (a GUID)."
        ) from None
    found = Subscription.objects.filter(guid=guid).first()
    if found is None:
        raise ServiceError.not_found(f"The subscription '{subscription}' was not found.", "subscription")
    return found


def _numeric(version: GalleryImageVersion) -> tuple[int, int, int]:
    return (version.major, version.minor, version.patch)


@dataclass
class _Deployed:
    """An existing deployment (not Failed) that came from a version."""

    pk: int
    name: str
    region_id: int
    subscription_id: int


@dataclass
class _Kept:
    """A version kept for its deployments: which ones, and what the plan does not do to it."""

    version: GalleryImageVersion
    deployments: dict[int, _Deployed] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)

    def action(self) -> Action:
        v, ds = self.version, list(self.deployments.values())
        named = sorted((d.name for d in ds if d.subscription_id == v.subscription_id), key=str.lower)
        elsewhere = len(ds) - len(named)
        who = ", ".join(named)
        if elsewhere:
            where = "another subscription" if elsewhere == 1 else "other subscriptions"
            who = f"{who} and {elsewhere} in {where}" if who else f"{elsewhere} in {where}"
        reason = f"kept: {len(ds)} deployment(s) came from it: {who}; " + "; ".join(self.notes)
        return Action(KEEP, v.arm_id, v.name, reason, list(self.regions), pk=v.pk)


def _not_kept(deployments: list[_Deployed]) -> str:
    return (
        f"; {len(deployments)} deployment(s) came from it (the image definition's policy does not keep "
        "deployed versions)"
    )


def _deployments(scoped: dict) -> dict[int, list[_Deployed]]:
    """Existing deployments (any state but Failed; a deleted one has no row) by the version they came
    from, for the versions in scope. Deployments anywhere count: a VM in another subscription or
    tenant came from the version just the same."""
    qs = Deployment.objects.filter(source_version__isnull=False).exclude(state=Deployment.State.FAILED)
    if scoped:
        qs = qs.filter(source_version__subscription_id=scoped["subscription_id"])
    out: dict[int, list[_Deployed]] = {}
    for pk, version_id, name, region_id, subscription_id in qs.values_list(
        "pk", "source_version_id", "name", "location_id", "subscription_id"
    ):
        out.setdefault(version_id, []).append(_Deployed(pk, name, region_id, subscription_id))
    return out


def plan(now: datetime | None = None, *, subscription=None) -> list[Action]:
    """What the clean-up would do at ``now`` (default: the current time). Changes nothing."""
    now = now or timezone.now()
    sub = resolve_subscription(subscription)
    scoped = {"subscription_id": sub.pk} if sub is not None else {}
    fields = ("pk", "arm_id", "name", "end_of_life_date", "definition_id", "subscription_id")

    # What end of life makes due: version -> (the version, why it goes, why it would have gone).
    due: dict[int, tuple[GalleryImageVersion, str, str]] = {}
    expired_versions = (
        GalleryImageVersion.objects.filter(end_of_life_date__lte=now, **scoped)
        .exclude(provisioning_state=PS.DELETING)
        .only(*fields)
    )
    for v in expired_versions:
        eol = _when(v.end_of_life_date)
        due[v.pk] = (v, f"end of life {eol} has passed", f"its end of life {eol} has passed")
    expired_definitions = list(
        GalleryImage.objects.filter(end_of_life_date__lte=now, **scoped).only(
            "pk", "arm_id", "name", "end_of_life_date"
        )
    )
    expired_definition_ids = {d.pk for d in expired_definitions}
    versions_of: dict[int, list[GalleryImageVersion]] = {}
    for d in expired_definitions:
        eol = _when(d.end_of_life_date)
        versions_of[d.pk] = list(
            GalleryImageVersion.objects.filter(definition=d).only(*fields, "provisioning_state")
        )
        for v in versions_of[d.pk]:
            if v.pk not in due and v.provisioning_state != PS.DELETING:
                why = f"its image definition '{d.name}' reached end of life {eol}"
                due[v.pk] = (v, why, why)

    deployed = _deployments(scoped)
    keeps_deployed = dict(GalleryImage.objects.filter(**scoped).values_list("pk", "lifecycle_keep_deployed"))
    kept: dict[int, _Kept] = {}
    version_deletions: dict[int, Action] = {}
    for pk, (v, reason, would) in due.items():
        ds = deployed.get(pk, [])
        if ds and keeps_deployed.get(v.definition_id, True):
            k = kept[pk] = _Kept(v, {d.pk: d for d in ds})
            k.notes.append(f"not deleted although {would}")
            continue
        if ds:
            reason += _not_kept(ds)
        version_deletions[pk] = Action(DELETE_VERSION, v.arm_id, v.name, reason, pk=pk)

    definition_deletions: list[Action] = []
    definition_keeps: list[Action] = []
    for d in expired_definitions:
        eol = _when(d.end_of_life_date)
        versions = versions_of[d.pk]
        staying = [v.name for v in sorted(versions, key=_numeric) if v.pk in kept]
        if staying:
            definition_keeps.append(
                Action(
                    KEEP,
                    d.arm_id,
                    d.name,
                    f"kept: deployments came from its version(s) {', '.join(staying)}, which are kept; not "
                    f"deleted although its end of life {eol} has passed",
                    pk=d.pk,
                )
            )
            continue
        reason = f"end of life {eol} has passed"
        if versions:
            reason += f"; deleted together with its {len(versions)} version(s), which go first"
        definition_deletions.append(Action(DELETE_DEFINITION, d.arm_id, d.name, reason, pk=d.pk))

    trims: list[Action] = []
    policy_definitions = GalleryImage.objects.filter(
        lifecycle_policy=GalleryImage.LifecyclePolicy.TRIM_OLDER_TO_SOURCE, **scoped
    ).exclude(pk__in=expired_definition_ids)
    for definition in policy_definitions.only("pk", "lifecycle_keep_deployed"):
        trims.extend(_trims(definition, set(version_deletions), deployed, kept))

    def ordered(actions):
        return sorted(actions, key=lambda a: (a.arm_id.lower(), a.arm_id))

    keeps = definition_keeps + [k.action() for k in kept.values()]
    return (
        ordered(version_deletions.values()) + ordered(definition_deletions) + ordered(trims) + ordered(keeps)
    )


def _trims(
    definition: GalleryImage,
    deleted: set[int],
    deployed: dict[int, list[_Deployed]],
    kept: dict[int, _Kept],
) -> list[Action]:
    """TrimOlderToSource, region by region: in each region the version that is latest there (F8's
    rule, ``services.latest_by_region``, over the versions that survive this plan) keeps it; an older
    version is trimmed of the regions where a newer one is the latest, never of its source region.
    The latest of a region is never trimmed of it, so no region loses its last usable version; a
    region the newest is still replicating to (or failed in, or is excluded from latest in) keeps the
    latest among the versions Completed there. Unless the definition's policy says otherwise, a
    region that deployments from a version run in is not trimmed of that version (``kept``)."""
    latest = services.latest_by_region(definition, excluding=deleted)
    surviving = (
        GalleryImageVersion.objects.filter(definition_id=definition.pk)
        .exclude(provisioning_state=PS.DELETING)
        .exclude(pk__in=list(deleted))
        .select_related("location")
        .numeric_order()
    )
    rows: dict[int, list[TargetRegion]] = {}
    for t in (
        TargetRegion.objects.filter(version__in=surviving, removing=False)
        .select_related("region")
        .order_by("region__name")
    ):
        rows.setdefault(t.version_id, []).append(t)
    out = []
    for v in surviving:
        removed: list[tuple[Region, GalleryImageVersion]] = []
        keeps: list[str] = []
        protected: list[tuple[Region, GalleryImageVersion, list[_Deployed]]] = []
        not_kept: list[_Deployed] = []
        for t in rows.get(v.pk, []):
            there = latest.get(t.region.name)
            if t.region_id == v.location_id:
                continue
            if there is not None and _numeric(there) > _numeric(v):
                running = [d for d in deployed.get(v.pk, []) if d.region_id == t.region_id]
                if running and definition.lifecycle_keep_deployed:
                    protected.append((t.region, there, running))
                    keeps.append(f"{t.region.display_name} (kept for deployments)")
                    continue
                not_kept.extend(running)
                removed.append((t.region, there))
            elif there is not None and there.pk == v.pk:
                keeps.append(f"{t.region.display_name} (latest there)")
            else:
                keeps.append(f"{t.region.display_name} (no newer version is usable there)")
        if protected:
            k = kept.setdefault(v.pk, _Kept(v))
            for region, _, running in protected:
                k.deployments.update((d.pk, d) for d in running)
                k.regions.append(region.name)
            k.notes.append(
                "not trimmed of "
                + ", ".join(f"{r.display_name} (latest there: {there.name})" for r, there, _ in protected)
                + ", where they run"
            )
        if not removed:
            continue
        reason = (
            "removes "
            + ", ".join(f"{r.display_name} (latest there: {there.name})" for r, there in removed)
            + f"; keeps {', '.join([f'{v.location.display_name} (its source region)', *keeps])}"
        )
        if not_kept:
            reason += _not_kept(not_kept)
        out.append(Action(TRIM_VERSION, v.arm_id, v.name, reason, [r.name for r, _ in removed], pk=v.pk))
    return out


def run(
    now: datetime | None = None,
    *,
    dry_run: bool = True,
    caller: Caller | None = None,
    subscription=None,
    trigger: str = LifecycleRun.Trigger.COMMAND,
):
    """Plan the clean-up and, unless ``dry_run``, carry out exactly that plan: each change through the
    service layer in its own transaction, so one refusal does not stop the others; kept actions are
    never carried out. A real run first saves the plan as a ``LifecycleRun`` row, writes each action's
    outcome on it as it goes (``started`` before, the outcome after), and records one activity-log
    summary entry; a dry run changes nothing at all (not even a row)."""
    now = now or timezone.now()
    sub = resolve_subscription(subscription)
    report = Report(actions=plan(now, subscription=sub), dry_run=dry_run, now=now)
    if dry_run:
        return report
    caller = caller or Caller.system()
    record = report.record = _begin(report, caller, sub, trigger)
    changes = [index for index, action in enumerate(report.actions) if action.is_change]
    try:
        if changes:
            _mark(record, {changes[0]: ("started", "")})
        for n, index in enumerate(changes):
            action = report.actions[index]
            try:
                outcome, detail = _carry_out(caller, action)
            except ServiceError as err:
                report.errors.append((action, err.message))
                outcome, detail = "refused", err.message
            else:
                if outcome in ("done", IN_PROGRESS):
                    report.done.append(action)
                    if outcome == IN_PROGRESS:
                        report.in_progress.append(action)
                        outcome = "done"
                else:
                    getattr(report, outcome).append((action, detail))
            # One write per action: its outcome, and the next one marked as started.
            marks = {index: (outcome, detail)}
            if n + 1 < len(changes):
                marks[changes[n + 1]] = ("started", "")
            _mark(record, marks)
        _record_summary(caller, report, sub)
    except BaseException as exc:  # the row keeps what was planned and what had been done
        _finish(record, report, error=f"{type(exc).__name__}: {exc}")
        raise
    _finish(record, report)
    return report


IN_PROGRESS = "in_progress"


def _begin(report: Report, caller: Caller, subscription: Subscription | None, trigger: str) -> LifecycleRun:
    """The plan, saved before anything is done."""
    return LifecycleRun.objects.create(
        subscription=subscription,
        planned_for=report.now,
        trigger=trigger,
        principal=caller.principal,
        principal_name=caller.name,
        actions=[
            {**a.as_row(), "outcome": "planned" if a.is_change else "kept", "detail": ""}
            for a in report.actions
        ],
    )


def _mark(record: LifecycleRun, marks: dict[int, tuple[str, str]]) -> None:
    """Write outcomes (action index -> (outcome, detail)) on the run's row, in their own transaction."""
    for index, (outcome, detail) in marks.items():
        record.actions[index].update(outcome=outcome, detail=detail)
    LifecycleRun.objects.filter(pk=record.pk).update(actions=record.actions)


def _finish(record: LifecycleRun, report: Report, error: str = "") -> None:
    record.counts = report.counts()
    record.error = error
    record.status = LifecycleRun.Status.FAILED if error or report.errors else LifecycleRun.Status.SUCCEEDED
    record.finished_at = timezone.now()
    record.save(update_fields=["counts", "error", "status", "finished_at"])


def _carry_out(caller: Caller, action: Action) -> tuple[str, str]:
    """One change, through the service function that owns it (each opens its own transaction).
    Returns the outcome — ``done``, ``in_progress`` (a version deletion whose replicas the workers
    are still removing), ``deferred`` or ``skipped`` — and why (for the last two)."""
    if action.kind == DELETE_VERSION:
        version = GalleryImageVersion.objects.filter(pk=action.pk).first()
        if version is None:
            return "skipped", "The version no longer exists."
        services.delete_version(caller, version)
        if GalleryImageVersion.objects.filter(pk=action.pk).exists():
            return IN_PROGRESS, "Deleting: the workers remove its replicas, then the version."
        return "done", ""
    if action.kind == DELETE_DEFINITION:
        definition = GalleryImage.objects.filter(pk=action.pk).first()
        if definition is None:
            return "skipped", "The image definition no longer exists."
        remaining = list(
            GalleryImageVersion.objects.filter(definition=definition).values_list(
                "provisioning_state", flat=True
            )
        )
        if remaining and all(state == PS.DELETING for state in remaining):
            return (
                "deferred",
                f"{len(remaining)} version(s) are still being deleted (workers are removing their "
                "replicas); the next run deletes the definition once they are gone.",
            )
        services.delete_definition(caller, definition)  # refuses if a version was not deleted
        return "done", ""
    if action.kind == TRIM_VERSION:
        version = GalleryImageVersion.objects.filter(pk=action.pk).select_related("location").first()
        if version is None:
            return "skipped", "The version no longer exists."
        # Remove exactly the planned regions; every other region keeps its settings as they are.
        kept = [
            services.TargetRegionSpec(
                t.region, t.replica_count, t.storage_account_type, t.exclude_from_latest
            )
            for t in TargetRegion.objects.filter(version=version, removing=False).select_related("region")
            if t.region.name not in action.regions
        ]
        if not any(spec.name == version.location for spec in kept):
            kept.insert(0, services.TargetRegionSpec(version.location, version.replica_count))
        services.update_version(caller, version, target_regions=kept)
        return "done", ""
    raise ValueError(f"lifecycle action {action.kind!r} is not a change")  # pragma: no cover


def _record_summary(caller: Caller, report: Report, subscription: Subscription | None) -> ActivityLogEntry:
    """One activity-log entry per real run, with the counts and each action's outcome."""
    ch = Change(
        caller=caller,
        operation=OPERATION,
        scope=subscription,
        arm_id=(
            f"/subscriptions/{subscription.guid}/providers/Microsoft.Compute/lifecycle"
            if subscription is not None
            else "/providers/Microsoft.Compute/lifecycle"
        ),
    )
    ch.message = report.message
    ch.details = {
        "now": report.now.isoformat() if report.now else None,
        **report.counts(),
        "done": [list(a.key) for a in report.done],
        "deferred": [[*a.key, why] for a, why in report.deferred],
        "errors": [[*a.key, why] for a, why in report.errors],
    }
    if report.errors:
        return ch.record(
            ActivityLogEntry.Status.FAILED,
            ServiceError("LifecycleActionsRefused", report.message),
        )
    return ch.record(ActivityLogEntry.Status.SUCCEEDED)
