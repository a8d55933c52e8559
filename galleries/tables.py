"""The lists of the galleries pages as django-tables2 tables: sortable columns, a selection column for
the bulk actions, and a column chooser (``ObjectListView``; ``always_shown`` columns cannot be hidden).
Sizes go through the one size formatter (``portal.core.sizes``)."""

from __future__ import annotations

from datetime import UTC

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from portal.core.sizes import format_size

from .models import Gallery, GalleryImage, ManagedImage, Snapshot
from .models_deploy import Deployment


def tags_html(tags: dict | None):
    if not tags:
        return mark_safe('<span class="muted">—</span>')
    return format_html_join("", '<span class="tag">{}: {}</span>', sorted((tags or {}).items()))


def eol_badge(eol):
    """As ``galleries/resources/_eol.html``: "End of life" once passed, "Ends <date>" before."""
    if not eol:
        return mark_safe('<span class="muted">—</span>')
    when = eol.astimezone(UTC)
    if eol <= timezone.now():
        return format_html(
            '<span class="badge badge-eol" title="End of life {}">End of life</span>',
            f"{when:%Y-%m-%d %H:%M}",
        )
    return format_html(
        '<span class="badge badge-eol-date" title="End of life {}">Ends {}</span>',
        f"{when:%Y-%m-%d %H:%M}",
        f"{when:%Y-%m-%d}",
    )


def columns(*own: str, place: bool = True, last: tuple[str, ...] = ("tags",)) -> tuple[str, ...]:
    """A list's column order: selection and name, the type's ``own`` columns, where the resource lives
    (resource group, location, subscription; not when ``place`` is false), then ``last``."""
    where = ("resource_group", "location", "subscription") if place else ()
    return ("selection", "name", *own, *where, *last)


def num_column(label: str, **kwargs) -> tables.Column:
    """A column of numbers: right-aligned, head and cells."""
    return tables.Column(label, attrs={"td": {"class": "num"}, "th": {"class": "num"}}, **kwargs)


class TaggedTable(tables.Table):
    """What every list of the portal shares: the declared columns only, sorted by name, rendered by
    ``portal/components/table.html``, with the tags last; the name cannot be hidden."""

    tags = tables.Column("Tags", orderable=False, empty_values=())

    always_shown = ("name",)

    class Meta:
        fields = ()  # the columns are the ones declared
        sequence = ("...", "tags")
        template_name = "portal/components/table.html"
        attrs = {"class": "resource-list"}
        order_by = ("name",)

    def render_tags(self, value):
        return tags_html(value)


class ResourceTable(TaggedTable):
    """Name (a link to the page), resource group, location, subscription, tags; a selection column
    ``pk`` named ``selection`` when the list has bulk actions."""

    selection = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"data-select-all": "pk", "aria-label": "Select all rows"},
            "td__input": {"name": "pk", "form": "bulk-form", "aria-label": "Select this row"},
        },
        orderable=False,
    )
    name = tables.Column(
        linkify=lambda table, record: reverse(table.url_name, args=[record.pk]), order_by=("sort_name", "pk")
    )
    resource_group = tables.Column(
        "Resource group", accessor="resource_group__name", order_by="resource_group__name"
    )
    location = tables.Column("Location", accessor="location__display_name", order_by="location__display_name")
    subscription = tables.Column(
        "Subscription", accessor="subscription__display_name", order_by="subscription__display_name"
    )

    always_shown = ("selection", "name")
    url_name = ""  # the URL name of a row's page

    class Meta(TaggedTable.Meta):
        pass  # ``columns()`` orders the declared columns


class GalleryTable(ResourceTable):
    url_name = "gallery-detail"
    description = tables.Column(orderable=False)

    class Meta(ResourceTable.Meta):
        model = Gallery
        sequence = columns(last=("description", "tags"))
        attrs = {"class": "resource-list", "id": "galleries"}
        empty_text = "No galleries to show."

    def render_description(self, value):
        return value if len(value) <= 80 else value[:79] + "…"


class ManagedImageTable(ResourceTable):
    url_name = "image-detail"
    os_type = tables.Column("OS type")
    hyper_v_generation = tables.Column("Generation")
    os_disk = tables.Column("OS disk", accessor="os_disk__size_bytes", order_by="os_disk__size_bytes")

    class Meta(ResourceTable.Meta):
        model = ManagedImage
        sequence = columns("os_type", "hyper_v_generation", "os_disk")
        attrs = {"class": "resource-list", "id": "images"}
        empty_text = "No managed images to show."

    def render_os_disk(self, value):
        return format_size(value)


class SnapshotTable(ResourceTable):
    url_name = "snapshot-detail"
    os_type = tables.Column("OS disk", empty_values=())
    os_state = tables.Column("OS state")
    hyper_v_generation = tables.Column("Generation")
    size = tables.Column("Size", accessor="disk__size_bytes", order_by="disk__size_bytes")

    class Meta(ResourceTable.Meta):
        model = Snapshot
        sequence = columns("os_type", "os_state", "hyper_v_generation", "size")
        attrs = {"class": "resource-list", "id": "snapshots"}
        empty_text = "No snapshots to show."

    def render_os_type(self, value):
        return f"OS disk ({value})" if value else "Data disk"

    def render_size(self, value):
        return format_size(value)


class DefinitionTable(ResourceTable):
    url_name = "definition-detail"
    """The definitions of a gallery (on its page)."""

    publisher = tables.Column()
    offer = tables.Column()
    sku = tables.Column("SKU")
    os = tables.Column("OS", accessor="os_type", order_by=("os_type", "os_state"))
    hyper_v_generation = tables.Column("Generation")
    n_versions = tables.Column("Versions", default=0)
    end_of_life_date = tables.Column("End of life", empty_values=())

    class Meta(ResourceTable.Meta):
        model = GalleryImage
        sequence = columns(
            "publisher",
            "offer",
            "sku",
            "os",
            "hyper_v_generation",
            "n_versions",
            "end_of_life_date",
            place=False,
        )
        exclude = ("resource_group", "location", "subscription")
        attrs = {"class": "resource-list", "id": "definitions"}
        empty_text = "This gallery has no image definitions yet."

    def render_end_of_life_date(self, value):
        return eol_badge(value)

    def render_os(self, record):
        return f"{record.os_type} · {record.os_state}"


class DeploymentTable(ResourceTable):
    """Virtual machines and scale sets (one table; ``type`` tells them apart), with the selection
    column for bulk delete."""

    url_name = "deployment-detail"
    kind = tables.Column("Type", accessor="type", order_by=("type", "instance_count"))
    size = tables.Column("Size")
    state = tables.Column("State")
    source = tables.Column(
        "Image",
        accessor="source_version_name",
        order_by=("source_version_name", "source_image__name"),
        empty_values=(),
    )
    created = tables.Column("Created", accessor="created_at", order_by=("created_at", "pk"))

    class Meta(ResourceTable.Meta):
        model = Deployment
        sequence = (
            "selection",
            "name",
            "kind",
            "size",
            "state",
            "source",
            "location",
            "resource_group",
            "subscription",
            "created",
            "tags",
        )
        attrs = {"class": "resource-list deployments", "id": "deployments"}
        order_by = ("-created",)
        empty_text = "No deployments to show."

    def render_kind(self, record):
        if record.is_scale_set:
            return format_html(
                '{} <span class="muted">({} instances)</span>', record.kind_label, record.instance_count
            )
        return record.kind_label

    def render_state(self, record):
        state = format_html(
            '<span class="deploy-state deploy-{}">{}</span>', record.state.lower(), record.state
        )
        if record.under_provisioned:
            state += format_html(
                ' <span class="tag under-provisioned" title="{}">region under-provisioned</span>',
                record.waiting_reason,
            )
        return state

    def render_source(self, record):
        if record.source_version_name:
            name = record.source_version_name
        elif record.source_image_id:
            name = f"managed image {record.source_image.name}"
        else:
            name = "managed image"
        latest = mark_safe(' <span class="tag">latest</span>') if record.from_latest else ""
        return format_html("{}{}", name, latest)

    def render_created(self, value):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"
