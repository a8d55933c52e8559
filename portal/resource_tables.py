"""The lists of subscriptions, resource groups and a resource group's resources as django-tables2 tables
(issue 13): sortable columns and the column chooser of ``ObjectListView``, rendered by the same
``portal/components/table.html`` as the galleries lists (``galleries/tables.py``)."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import Resource, ResourceGroup, Subscription
from accounts.resource_types import TYPE_LABELS
from galleries.tables import TaggedTable, num_column

from .views import display_name


class SubscriptionTable(TaggedTable):
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
    n_groups = num_column("Resource groups")
    n_galleries = num_column("Galleries")
    n_definitions = num_column("Image definitions")
    n_versions = num_column("Image versions")
    monthly_cost = num_column("Monthly cost", empty_values=(), orderable=False)
    money: dict = {}

    class Meta(TaggedTable.Meta):
        model = Subscription
        attrs = {"class": "resource-list subscriptions", "id": "subscriptions"}
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


class ResourceGroupTable(TaggedTable):
    """Name, subscription, location, how many (non-hidden) resources in it the user may read, tags."""

    name = tables.Column(
        linkify=lambda record: reverse("resource-group-detail", args=[record.pk]),
        order_by=("sort_name", "pk"),
    )
    subscription = tables.Column(
        "Subscription", accessor="subscription__display_name", order_by="subscription__sort_name"
    )
    location = tables.Column("Location", accessor="location__display_name", order_by="location__display_name")
    n_resources = num_column("Resources")

    class Meta(TaggedTable.Meta):
        model = ResourceGroup
        attrs = {"class": "resource-list resource-groups", "id": "resource-groups"}
        order_by = ("subscription", "name")
        empty_text = "No resource groups match these filters."


class GroupResourceTable(TaggedTable):
    """The resources in a resource group, of every type: the name as people say it (a definition or
    version by its path in the gallery), linked to the resource's overview."""

    name = tables.Column(empty_values=(), order_by=("sort_name", "pk"))
    type = tables.Column("Type")
    location = tables.Column("Location", accessor="location__display_name", order_by="location__display_name")

    class Meta(TaggedTable.Meta):
        model = Resource
        attrs = {"class": "resource-list", "id": "group-resources"}
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
