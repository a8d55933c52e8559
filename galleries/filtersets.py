"""The filters of the galleries lists (django-filter). They narrow a queryset that is already through
the access filter and the current directory (``ObjectListView``), so a choice list offers only what
the user can see: resource groups, locations and subscriptions of the readable rows."""

from __future__ import annotations

import django_filters as filters

from accounts.models import ResourceGroup, Subscription

from .models import Gallery, HyperVGeneration, ManagedImage, OsState, OsType, Region, Snapshot
from .models_deploy import SCALE_SET_TYPE, VIRTUAL_MACHINE_TYPE, Deployment


class RowsFilterSet(filters.FilterSet):
    """Name (contains, case-insensitive: ``q``) and a tag (``name`` or ``name=value``), as every list;
    model choice filters offer only the values of the rows the user can see (``choice_filters``)."""

    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    tag = filters.CharFilter(method="filter_tag", label="Tag (name or name=value)")

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

    def filter_tag(self, queryset, name, value):
        key, sep, tag_value = value.partition("=")
        key = key.strip()
        if not key:
            return queryset
        present = queryset.filter(tags__has_key=key)  # the key as a literal
        if not sep:
            return present
        if "__" in key:  # a key lookup would read it as a path: no such tag can be matched by value here
            return queryset.none()
        return present.filter(**{f"tags__{key}": tag_value.strip()})


class ResourceFilterSet(RowsFilterSet):
    """Name, resource group, location, subscription, a tag."""

    resource_group = filters.ModelChoiceFilter(
        queryset=ResourceGroup.objects.none(), label="Resource group", empty_label="Any"
    )
    location = filters.ModelChoiceFilter(queryset=Region.objects.none(), label="Location", empty_label="Any")
    subscription = filters.ModelChoiceFilter(
        queryset=Subscription.objects.none(), label="Subscription", empty_label="Any"
    )

    choice_filters = (
        ("resource_group", "resource_group_id", "name"),
        ("location", "location_id", "display_name"),
        ("subscription", "subscription_id", "display_name"),
    )


def _choices(choices):
    return [(c.value, c.value) for c in choices]


class GalleryFilterSet(ResourceFilterSet):
    class Meta:
        model = Gallery
        fields = ()


class ManagedImageFilterSet(ResourceFilterSet):
    os_type = filters.ChoiceFilter(choices=_choices(OsType), label="OS type", empty_label="Any")
    hyper_v_generation = filters.ChoiceFilter(
        choices=_choices(HyperVGeneration), label="Generation", empty_label="Any"
    )

    class Meta:
        model = ManagedImage
        fields = ()


class SnapshotFilterSet(ManagedImageFilterSet):
    os_state = filters.ChoiceFilter(choices=_choices(OsState), label="OS state", empty_label="Any")

    class Meta:
        model = Snapshot
        fields = ()


#: The deployment kinds of the filter (as the deploy form names them) and their ARM types.
DEPLOYMENT_KINDS = {"vm": VIRTUAL_MACHINE_TYPE, "scaleset": SCALE_SET_TYPE}


class DeploymentFilterSet(ResourceFilterSet):
    kind = filters.ChoiceFilter(
        choices=[("vm", "Virtual machine"), ("scaleset", "Virtual machine scale set")],
        method="filter_kind",
        label="Type",
        empty_label="Any",
    )
    state = filters.ChoiceFilter(choices=Deployment.State.choices, label="State", empty_label="Any")

    class Meta:
        model = Deployment
        fields = ()

    def filter_kind(self, queryset, name, value):
        return queryset.filter(type=DEPLOYMENT_KINDS[value])
