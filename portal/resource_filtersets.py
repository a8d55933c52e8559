"""The filters of the subscriptions, resource groups and a resource group's resources (django-filter).
As in ``galleries/filtersets.py`` they narrow a queryset that is already through the access filter, so
a choice list offers only what the user can see."""

from __future__ import annotations

import django_filters as filters
from django import forms

from accounts.models import Resource, ResourceGroup, Subscription
from accounts.resource_types import TYPE_LABELS
from galleries.filtersets import ResourceFilterSet
from galleries.models import Region

#: The types a resource group holds (not subscriptions or resource groups), by label.
IN_A_GROUP = sorted(
    ((t, label) for t, label in TYPE_LABELS.items() if not t.startswith("Microsoft.Resources/")),
    key=lambda choice: choice[1],
)


class NameTagFilterSet(filters.FilterSet):
    """Name (contains, case-insensitive) and a tag (``name`` or ``name=value``), as every list."""

    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    tag = filters.CharFilter(method="filter_tag", label="Tag (name or name=value)")

    filter_tag = ResourceFilterSet.filter_tag  # the one reading of a tag filter

    #: Model choice filters: (filter, the rows' column it offers, the label attribute of a choice).
    choice_filters: tuple = ()

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        rows = queryset.order_by()
        for name, column, label in self.choice_filters:
            model = self.filters[name].queryset.model
            self.filters[name].queryset = model.objects.filter(pk__in=rows.values(column)).order_by(label)

    @property
    def form(self):
        form = super().form
        for name, _column, label in self.choice_filters:
            form.fields[name].label_from_instance = lambda obj, attr=label: getattr(obj, attr)
        return form


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
