"""The filters of the directory lists (django-filter): one search box over the names a list shows. The
queryset they narrow is already scoped to the administrator's tenant (or, for My invitations, to the
signed-in user) by the view."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q

from .models import GuestInvitation


class SearchFilterSet(filters.FilterSet):
    """``q``: contains, case-insensitive, in any of ``search_fields``."""

    search_fields: tuple[str, ...] = ()
    q = filters.CharFilter(method="search", label="Search")

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        match = Q()
        for field in self.search_fields:
            match |= Q(**{f"{field}__icontains": value})
        return queryset.filter(match)


def search(*fields: str) -> type[SearchFilterSet]:
    """A filterset searching ``fields``."""
    return type("SearchFilterSet", (SearchFilterSet,), {"search_fields": fields})


UserFilterSet = search("username", "display_name")
GroupFilterSet = search("display_name", "description")
MemberFilterSet = search("username", "display_name")
AppFilterSet = search("display_name", "client_id")
SecretFilterSet = search("description", "hint")
ServicePrincipalFilterSet = search("app__display_name", "app__client_id", "app__home_tenant__name")
PartnerFilterSet = search("partner__name", "partner__primary_domain", "partner__tenant_id")


class InvitationFilterSet(SearchFilterSet):
    search_fields = ("user__username", "user__home_tenant__name")
    state = filters.ChoiceFilter(choices=GuestInvitation.State.choices, empty_label="Any", label="State")


class MyInvitationFilterSet(InvitationFilterSet):
    search_fields = ("tenant__name", "tenant__primary_domain")
