"""``manage.py lifecycle [--apply] [--subscription GUID]``: the lifecycle clean-up (F18) by hand.

Without ``--apply`` it is a dry run: it prints what the scheduled run would do and changes nothing.
With ``--apply`` it saves the plan (a ``LifecycleRun``), carries out exactly that plan and prints what
was done, deferred and refused. Versions that existing deployments came from are listed as kept
(unless their definition's policy lets them go) and are never changed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from galleries import lifecycle
from galleries.models import LifecycleRun
from portal.core.errors import ServiceError

KIND_LABELS = {
    lifecycle.DELETE_VERSION: "delete version",
    lifecycle.DELETE_DEFINITION: "delete definition",
    lifecycle.TRIM_VERSION: "trim version",
    lifecycle.KEEP: "keep",
}


def table(rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


class Command(BaseCommand):
    help = (
        "Lifecycle clean-up (F18): delete image versions and definitions past their end-of-life date and "
        "trim older versions of definitions with the TrimOlderToSource policy. A dry run unless --apply."
    )

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="Carry out the plan (default: dry run).")
        parser.add_argument("--subscription", metavar="GUID", help="Only this subscription's resources.")

    def handle(self, *args, apply: bool = False, subscription: str | None = None, **options):
        try:
            report = lifecycle.run(
                dry_run=not apply, subscription=subscription, trigger=LifecycleRun.Trigger.COMMAND
            )
        except ServiceError as err:
            raise CommandError(err.message) from err
        out = self.stdout
        if not report.actions:
            out.write("Nothing to do: no end-of-life date has passed and nothing needs trimming.")
        else:
            out.write(f"Lifecycle plan ({len(report.actions)} action(s)):")
            rows = [(KIND_LABELS[a.kind], a.arm_id, a.reason) for a in report.actions]
            for line in table(rows, ("KIND", "RESOURCE ID", "REASON")):
                out.write(line)
        out.write("")
        if report.dry_run:
            out.write("Dry run: nothing was changed. Run again with --apply to carry out this plan.")
            return
        if report.kept:
            out.write(f"Kept for deployments, not changed ({len(report.kept)}):")
            for a in report.kept:
                out.write(f"  {a.arm_id}")
        in_progress = {a.key for a in report.in_progress}
        out.write(f"Done ({len(report.done)}):")
        for a in report.done:
            note = (
                " (deletion in progress: workers remove its replicas first)" if a.key in in_progress else ""
            )
            out.write(f"  {KIND_LABELS[a.kind]} {a.arm_id}{note}")
        out.write(f"Deferred to the next run ({len(report.deferred)}):")
        for a, why in report.deferred:
            out.write(f"  {KIND_LABELS[a.kind]} {a.arm_id}: {why}")
        if report.skipped:
            out.write(f"Skipped ({len(report.skipped)}):")
            for a, why in report.skipped:
                out.write(f"  {KIND_LABELS[a.kind]} {a.arm_id}: {why}")
        out.write(f"Refused ({len(report.errors)}):")
        for a, why in report.errors:
            out.write(f"  {KIND_LABELS[a.kind]} {a.arm_id}: {why}")
        out.write(report.message)
