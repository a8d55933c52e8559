"""The lists of subscriptions, resource groups and a resource group's resources as django-tables2 tables
(issue 13): sortable columns and the column chooser of ``ObjectListView``, rendered by the same
``portal/components/table.html`` as the galleries lists (``galleries/tables.py``)."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import Resource, ResourceGroup, Subscription
from accounts.resource_types import TYPE_LABELS
from galleries.tables import tags_html

from .views import display_name


class SubscriptionTable(tables.Table):
    """Name, id, state, readable resource groups, the usage counts over all regions (F15) and the
    monthly storage cost of the readable versions (F16, set by the view: ``money``, per pk)."""

    name = tables.Column(
        "Subscription",
        accessor="display_name",
        linkify=lambda record: reverse("subscription-detail", args=[record.pk]),
        order_by=("sort_name", "pk"),
    )
    guid = tables.Column("Subscription ID")
    state = tables.Column("State")
    n_groups = tables.Column("Resource groups", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    n_galleries = tables.Column("Galleries", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    n_definitions = tables.Column("Image definitions", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    n_versions = tables.Column("Image versions", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    monthly_cost = tables.Column(
        "Monthly cost",
        empty_values=(),
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    tags = tables.Column("Tags", orderable=False, empty_values=())

    always_shown = ("name",)
    money: dict = {}

    class Meta:
        model = Subscription
        fields = ()
        template_name = "portal/components/table.html"
        attrs = {"class": "resource-list subscriptions", "id": "subscriptions"}
        order_by = ("name",)
        empty_text = "No subscriptions match these filters."

    def render_guid(self, value):
        return format_html("<code>{}</code>", value)

    def render_state(self, value):
        return format_html('<span class="sub-state sub-state-{}">{}</span>', value.lower(), value)

    def render_monthly_cost(self, record):
        money = self.money.get(record.pk)
        if money is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("subscription-cost", args=[record.pk]), money["monthly"]
        )

    def render_tags(self, value):
        return tags_html(value)


class ResourceGroupTable(tables.Table):
    """Name, subscription, location, how many (non-hidden) resources in it the user may read, tags."""

    name = tables.Column(
        linkify=lambda record: reverse("resource-group-detail", args=[record.pk]),
        order_by=("sort_name", "pk"),
    )
    subscription = tables.Column(
        "Subscription", accessor="subscription__display_name", order_by="subscription__sort_name"
    )
    location = tables.Column("Location", accessor="location__display_name", order_by="location__display_name")
    n_resources = tables.Column("Resources", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    tags = tables.Column("Tags", orderable=False, empty_values=())

    always_shown = ("name",)

    class Meta:
        model = ResourceGroup
        fields = ()
        template_name = "portal/components/table.html"
        attrs = {"class": "resource-list resource-groups", "id": "resource-groups"}
        order_by = ("subscription", "name")
        empty_text = "No resource groups match these filters."

    def render_tags(self, value):
        return tags_html(value)


class GroupResourceTable(tables.Table):
    """The resources in a resource group, of every type: the name as people say it (a definition or
    version by its path in the gallery), linked to the resource's overview."""

    name = tables.Column(empty_values=(), order_by=("sort_name", "pk"))
    type = tables.Column("Type")
    location = tables.Column("Location", accessor="location__display_name", order_by="location__display_name")
    tags = tables.Column("Tags", orderable=False, empty_values=())

    always_shown = ("name",)

    class Meta:
        model = Resource
        fields = ()
        template_name = "portal/components/table.html"
        attrs = {"class": "resource-list", "id": "group-resources"}
        order_by = ("name",)
        empty_text = "No resources match these filters."

    def render_name(self, record):
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            reverse("resource-overview", args=[record.pk]),
            record.arm_id,
            display_name(record),
        )

    def render_type(self, value):
        return TYPE_LABELS.get(value, value)

    def render_tags(self, value):
        return tags_html(value)
