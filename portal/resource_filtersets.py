"""The filters of the subscriptions, resource groups and a resource group's resources (django-filter).
As in ``galleries/filtersets.py`` they narrow a queryset that is already through the access filter, so
a choice list offers only what the user can see."""

from __future__ import annotations

import django_filters as filters
from django import forms

from accounts.models import Resource, ResourceGroup, Subscription
from accounts.resource_types import TYPE_LABELS
from galleries.filtersets import RowsFilterSet as NameTagFilterSet
from galleries.models import Region

#: The types a resource group holds (not subscriptions or resource groups), by label.
IN_A_GROUP = sorted(
    ((t, label) for t, label in TYPE_LABELS.items() if not t.startswith("Microsoft.Resources/")),
    key=lambda choice: choice[1],
)


class SubscriptionFilterSet(NameTagFilterSet):
    q = filters.CharFilter(field_name="display_name", lookup_expr="icontains", label="Name")
    state = filters.ChoiceFilter(choices=Subscription.State.choices, label="State", empty_label="Any")

    class Meta:
        model = Subscription
        fields = ()


class ResourceGroupFilterSet(NameTagFilterSet):
    subscription = filters.ModelChoiceFilter(
        queryset=Subscription.objects.none(), label="Subscription", empty_label="Any"
    )
    location = filters.ModelChoiceFilter(queryset=Region.objects.none(), label="Location", empty_label="Any")

    choice_filters = (
        ("subscription", "subscription_id", "display_name"),
        ("location", "location_id", "display_name"),
    )

    class Meta:
        model = ResourceGroup
        fields = ()


class GroupResourceFilterSet(NameTagFilterSet):
    """A resource group's resources: name, type, location, tag; hidden types (definitions, versions)
    only when "Show hidden types" is ticked (``hidden=1``: the view leaves them out otherwise)."""

    type = filters.ChoiceFilter(choices=IN_A_GROUP, empty_label="Any")
    location = filters.ModelChoiceFilter(queryset=Region.objects.none(), label="Location", empty_label="Any")
    hidden = filters.BooleanFilter(
        method="keep", label="Show hidden types", widget=forms.CheckboxInput(attrs={"value": "1"})
    )

    choice_filters = (("location", "location_id", "display_name"),)

    class Meta:
        model = Resource
        fields = ()

    def keep(self, queryset, name, value):
        return queryset  # read by the view, before the access filter's rows are counted
