from django.contrib import admin
from django.utils.html import format_html, format_html_join

from accounts.admin import ReadOnlyAdmin, ReadOnlyInline, ReadOnlyResourceAdmin

from . import models

# Lists that need nothing but their columns: ``register`` makes their ``ModelAdmin`` from the options.
admin.site.register(models.Cloud, list_display=("name", "display_name"))
admin.site.register(
    models.Region,
    list_display=("name", "display_name", "cloud", "is_source", "has_zones", "restricted"),
    list_filter=("cloud", "is_source", "has_zones", "restricted"),
    search_fields=("name", "display_name"),
)
admin.site.register(
    models.StoredDisk,
    list_display=("path", "region", "size_bytes", "sha256", "created_at"),
    list_filter=("region",),
)
admin.site.register(
    models.Blob,
    list_display=("name", "container", "resource_group", "region", "state", "bytes_received", "size_bytes"),
    list_filter=("state", "region"),
)


class DataDiskInline(ReadOnlyInline):
    model = models.ManagedImageDataDisk


@admin.register(models.ManagedImage)
class ManagedImageAdmin(ReadOnlyResourceAdmin):
    list_display = ("name", "os_type", "location", "tenant", "created_at")
    inlines = [DataDiskInline]


@admin.register(models.Snapshot)
class SnapshotAdmin(ReadOnlyResourceAdmin):
    list_display = ("name", "os_type", "os_state", "location", "tenant")


@admin.register(models.Gallery)
class GalleryAdmin(ReadOnlyResourceAdmin):
    list_display = ("name", "unique_name", "location", "tenant", "created_at")


@admin.register(models.GalleryImage)
class GalleryImageAdmin(ReadOnlyResourceAdmin):
    list_display = ("name", "publisher", "offer", "sku", "os_type", "os_state", "location")


class VersionDiskInline(ReadOnlyInline):
    model = models.VersionDisk


class TargetRegionInline(ReadOnlyInline):
    model = models.TargetRegion


@admin.register(models.GalleryImageVersion)
class GalleryImageVersionAdmin(ReadOnlyResourceAdmin):
    list_display = ("arm_id", "provisioning_state", "location", "exclude_from_latest", "end_of_life_date")
    inlines = [VersionDiskInline, TargetRegionInline]


admin.site.register(
    models.TargetRegion,
    list_display=("version", "region", "replica_count", "storage_account_type", "state", "attempts"),
    list_filter=("state", "region"),
)
admin.site.register(
    models.UsageCounter,
    list_display=("subscription", "region", "kind", "count"),
    list_filter=("kind", "region"),
)


@admin.register(models.LifecycleRun)
class LifecycleRunAdmin(ReadOnlyAdmin):
    """Lifecycle runs (F18): the plan as saved before the run, and each action's outcome. A record of
    what happened, so read-only."""

    list_display = (
        "created_at",
        "subscription",
        "trigger",
        "principal_name",
        "status",
        "planned",
        "finished_at",
    )
    list_filter = ("status", "trigger")
    search_fields = ("principal_name", "subscription__display_name")
    readonly_fields = (
        "subscription",
        "created_at",
        "planned_for",
        "trigger",
        "principal",
        "principal_name",
        "status",
        "counts",
        "error",
        "finished_at",
        "plan",
    )
    exclude = ("actions",)

    @admin.display(description="actions")
    def planned(self, obj):
        return len(obj.actions)

    @admin.display(description="plan and outcomes")
    def plan(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    a["kind"],
                    a["arm_id"],
                    a["reason"],
                    models.LifecycleRun.OUTCOMES.get(a["outcome"], a["outcome"]),
                    a["detail"],
                )
                for a in obj.actions
            ),
        )
        return format_html(
            "<table><thead><tr><th>Kind</th><th>Resource</th><th>Reason</th><th>Outcome</th><th>Detail</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )
