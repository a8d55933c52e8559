"""All Resources (F14) and the global search by name.

Everything a person sees here comes through ``Resource.objects.restrict(request.user)`` narrowed to
the current directory; the filter choices too (only subscriptions, locations and resource groups of
resources the user may read). Every state — filters, sort, page — is in the URL, so a link is
shareable and a full page load of it renders the same table as the htmx partial.

    GET /                 the page (htmx: only the table, ``portal/htmx/resource_table.html``)
    GET /?format=csv      the whole filtered result as CSV, streamed
    GET /search?q=        the top 20 readable resources whose name contains q (htmx: the dropdown)
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, CharField, F, IntegerField, Q, Value, When
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce, Lower
from django.http import QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers

from accounts import access
from accounts.models import Resource, ResourceGroup, Subscription
from accounts.resource_types import TYPE_LABELS
from accounts.views import current_directory
from galleries.models import Region

PAGE_SIZE = 50
SEARCH_LIMIT = 20
SUBSCRIPTION = Subscription.ARM_TYPE
RESOURCE_GROUP = ResourceGroup.ARM_TYPE
HIDDEN_TYPES = {t for t in TYPE_LABELS if t.startswith("Microsoft.Compute/galleries/")}


def display_name(resource) -> str:
    """What a person calls it: a subscription by its display name, a definition or version by its path
    in the gallery (``ContosoGallery/myImage1/1.0.1``), as the Azure portal does."""
    if getattr(resource, "sub_display", None):
        return resource.sub_display
    if resource.type.startswith("Microsoft.Compute/galleries/"):
        tail = resource.arm_id.split("/providers/Microsoft.Compute/galleries/", 1)[1].split("/")
        return "/".join(tail[::2])
    return resource.name


# --- The filter ------------------------------------------------------------------------------------


class GuidListField(forms.Field):
    """``sub=<guid>&sub=<guid>``: subscription ids, as Azure names them."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        out = []
        for raw in value or []:
            raw = raw.strip()
            if not raw:
                continue
            try:
                out.append(uuid.UUID(raw))
            except ValueError:
                raise ValidationError(
                    f"'{raw[:40]}' is not a subscription id: pick subscriptions from the list (each is a GUID)."
                ) from None
        return out


#: What the Name column shows, as a sort key: ``Resource.sort_name`` (a subscription's display name, a
#: definition's or version's path in its gallery, else the name; lower-cased), indexed with the tenant,
#: so the first page reads its rows in order instead of sorting everything readable.
SORT_NAME = F("sort_name")

#: sort key (in the URL) → (column heading, ordering expression)
SORTS = {
    "name": ("Name", SORT_NAME),
    "type": (
        "Type",
        Case(
            *[When(type=t, then=Value(label)) for t, label in TYPE_LABELS.items()], output_field=CharField()
        ),
    ),
    "rg": ("Resource group", Lower("rg_name")),
    "location": ("Location", Lower("location__display_name")),
    "subscription": ("Subscription", Lower("sub_name")),
}


class ResourceFilter(forms.Form):
    """The query string of All Resources. Bad values are refused with a message naming the field."""

    q = forms.CharField(required=False, max_length=256, label="Name")
    type = forms.ChoiceField(
        required=False,
        choices=[("", "All types"), *TYPE_LABELS.items()],
        error_messages={"invalid_choice": "Unknown type '%(value)s': choose one of the listed types."},
    )
    sub = GuidListField(required=False, label="Subscriptions")
    location = forms.CharField(required=False, max_length=40, label="Location")
    rg = forms.CharField(required=False, max_length=90, label="Resource group")
    tag = forms.CharField(required=False, max_length=600, label="Tag")
    hidden = forms.BooleanField(required=False, label="Show hidden types")
    sort = forms.ChoiceField(
        required=False,
        label="Sort",
        choices=[(f"{d}{k}", f"{d}{k}") for k in SORTS for d in ("", "-")],
        error_messages={
            "invalid_choice": "Sort by name, type, rg, location or subscription ('-' before it for descending)."
        },
    )

    def clean_tag(self):
        text = self.cleaned_data["tag"].strip()
        if not text:
            return None
        key, eq, value = text.partition("=")
        key = key.strip()
        if not key:
            raise ValidationError("A tag filter is 'key' or 'key=value': the key is missing.")
        return (key, value.strip() if eq else None)

    @property
    def values(self) -> dict:
        """The cleaned values, with defaults (a field with an error has its default; the view lists
        nothing while any field has one)."""
        self.is_valid()
        d = self.cleaned_data
        return {
            "q": d.get("q", "").strip(),
            "type": d.get("type", ""),
            "sub": d.get("sub", []),
            "location": d.get("location", "").strip(),
            "rg": d.get("rg", "").strip(),
            "tag": d.get("tag"),
            "hidden": d.get("hidden", False),
            "sort": d.get("sort") or "name",
        }


def readable_here(request):
    """Every resource the user may read in the current directory (hidden types included)."""
    directory = current_directory(request)
    if directory is None:
        return Resource.objects.none()
    return Resource.objects.restrict(request.user).filter(tenant=directory)


def apply_filters(qs, f: dict, *, hidden: bool | None = None):
    """``qs`` narrowed by the filter values ``f`` (``hidden`` overrides the "Show hidden types" box)."""
    if not (f["hidden"] if hidden is None else hidden):
        qs = qs.filter(hidden=False)
    if f["type"]:
        qs = qs.filter(type=f["type"])
    if f["q"]:
        qs = qs.filter(name_matches(f["q"]))
    if f["sub"]:
        subs = Subscription.objects.filter(guid__in=f["sub"]).values("pk")
        qs = qs.filter(Q(subscription_id__in=subs) | Q(pk__in=subs))
    if f["location"]:
        qs = qs.filter(location__name=f["location"].lower())
    if f["rg"]:
        groups = ResourceGroup.objects.filter(name__iexact=f["rg"]).values("pk")
        qs = qs.filter(Q(resource_group_id__in=groups) | Q(pk__in=groups))
    if f["tag"]:
        key, value = f["tag"]
        if value is None:
            qs = qs.filter(tags__has_key=key)
        else:
            qs = qs.alias(tag_value=KeyTransform(key, "tags")).filter(tag_value=value)
    return qs


def name_matches(text: str) -> Q:
    """The name contains ``text`` (a subscription's display name, which is what it is called)."""
    return Q(name__icontains=text) | Q(type=SUBSCRIPTION, as_subscription__display_name__icontains=text)


def with_columns(qs):
    """The columns of the table in the same query: resource group and subscription names (a resource
    group or subscription row shows its own), the location — no query per row."""
    return qs.select_related("location").annotate(
        rg_name=Coalesce(F("resource_group__name"), Case(When(type=RESOURCE_GROUP, then=F("name")))),
        sub_name=Coalesce(F("subscription__display_name"), F("as_subscription__display_name")),
        sub_display=F("as_subscription__display_name"),
    )


def ordered(qs, sort: str):
    key = sort.lstrip("-")
    expr = SORTS[key][1]
    first = expr.desc(nulls_last=True) if sort.startswith("-") else expr.asc(nulls_last=True)
    tail = [SORT_NAME, "id"] if key != "name" else ["id"]
    if key == "name" and sort.startswith("-"):
        tail = ["-id"]
    return qs.order_by(first, *tail)


def capped_count(qs, page_number: int) -> tuple[int, bool]:
    """(count, exact): the rows of ``qs`` counted up to ``ALL_RESOURCES_COUNT_AHEAD_PAGES`` pages past
    the requested one — "1–50 of 1,050+" costs the same at a thousand rows and at a million; paging
    further moves the cap along."""
    cap = (max(page_number, 1) + settings.ALL_RESOURCES_COUNT_AHEAD_PAGES) * PAGE_SIZE
    n = qs[: cap + 1].count()
    return (cap, False) if n > cap else (n, True)


def filter_choices(request, directory) -> dict:
    """The filter form's subscriptions, resource groups and locations, from the user's read grants
    (no scan of the resources): the subscriptions and resource groups its scopes are in or are, the
    resource groups of whole subscriptions it may read, and the regions of the directory's clouds."""
    subs, rgs, whole_subs = access.grants_for(request.user).read_containers
    names = (
        ResourceGroup.objects.filter(
            Q(pk__in_ids=rgs) | Q(subscription_id__in_ids=whole_subs), tenant=directory
        )
        .order_by(Lower("name"))
        .values_list("name", flat=True)
    )
    groups, seen = [], set()
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            groups.append(name)
    return {
        "subscriptions": list(
            Subscription.objects.filter(pk__in_ids=subs, tenant=directory)
            .order_by(Lower("display_name"), "pk")
            .values_list("guid", "display_name")
        ),
        "locations": list(Region.objects.order_by("display_name").values_list("name", "display_name")),
        "resource_groups": groups,
    }


def _query(f: dict, **override) -> str:
    """The URL query of the filter values ``f`` (defaults left out), with ``override``."""
    values = {**f, **override}
    qd = QueryDict(mutable=True)
    for key in ("q", "type", "location", "rg"):
        if values.get(key):
            qd[key] = values[key]
    if values.get("sub"):
        qd.setlist("sub", [str(g) for g in values["sub"]])
    if values.get("tag"):
        key, value = values["tag"]
        qd["tag"] = key if value is None else f"{key}={value}"
    if values.get("hidden"):
        qd["hidden"] = "1"
    if values.get("sort") and values["sort"] != "name":
        qd["sort"] = values["sort"]
    if values.get("page") and values["page"] != 1:
        qd["page"] = str(values["page"])
    if values.get("format"):
        qd["format"] = values["format"]
    return qd.urlencode()


def _headers(f: dict) -> list[dict]:
    """Clickable column headings: a click sorts by it ascending, a second click descending."""
    out = []
    for key, (label, _) in SORTS.items():
        active = f["sort"].lstrip("-") == key
        descending = active and f["sort"].startswith("-")
        out.append(
            {
                "label": label,
                "query": _query(f, sort=key if not active or descending else f"-{key}"),
                "active": active,
                "aria": ("descending" if descending else "ascending") if active else "none",
                "arrow": ("▼" if descending else "▲") if active else "",
            }
        )
    return out


def _tag_query(f: dict, key: str, value: str) -> str:
    return _query(f, tag=(key, str(value)))


# --- Views -------------------------------------------------------------------------------------------


@login_required
def home(request):
    """All Resources: the readable resources of the current directory, filtered, sorted and paged.
    Operators hold no roles (it would be empty): they land on their own page."""
    if request.user.is_superuser:
        return redirect("administration:operator")
    form = ResourceFilter(request.GET)
    valid = form.is_valid()
    f = form.values
    base = readable_here(request)
    qs = ordered(with_columns(apply_filters(base, f)), f["sort"]) if valid else Resource.objects.none()

    if request.GET.get("format") == "csv" and valid:
        return _csv_response(request, qs)

    filtered = any(f[k] for k in ("q", "type", "sub", "location", "rg", "tag"))
    full_page = not (request.htmx and not request.htmx.history_restore_request)
    paginator = Paginator(qs, PAGE_SIZE)
    # The count without the columns' joins (they do not change it), capped a few pages ahead.
    try:
        asked = int(request.GET.get("page") or 1)
    except ValueError:
        asked = 1
    exact, counted = True, 0
    if valid:
        counted, exact = capped_count(apply_filters(base, f), asked)
    # Past the cap there is at least one more row: one more page, so "Next" is offered.
    paginator.count = counted if exact else counted + 1
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for r in rows:
        r.type_label = TYPE_LABELS.get(r.type, r.type)
        r.display_name = display_name(r)
        r.tag_links = [(k, v, _tag_query(f, k, v)) for k, v in sorted((r.tags or {}).items())]
    empty = {}
    if valid and not rows:
        # Say why: nothing readable at all here, or nothing matching (and whether hidden types would).
        empty["no_access"] = not base.exists()
        if not empty["no_access"] and not f["hidden"]:
            empty["hidden_matches"] = apply_filters(base, f, hidden=True).filter(hidden=True).count()
    context = {
        "form": form,
        "f": f,
        "page": page,
        "count_label": f"{counted:,}" if exact else f"{counted:,}+",
        "rows": rows,
        "empty": empty,
        "filtered": filtered,
        "headers": _headers(f),
        "page_links": [
            (n, _query(f, page=n) if isinstance(n, int) else None)
            for n in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
        ],
        "prev_query": _query(f, page=page.number - 1),
        "next_query": _query(f, page=page.number + 1),
        "csv_query": _query(f, format="csv"),
    }
    status = 200 if valid else 400
    if full_page:
        context.update(_form_context(form, f, filter_choices(request, current_directory(request))))
        response = render(request, "portal/home.html", context, status=status)
    else:
        response = render(request, "portal/htmx/resource_table.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _form_context(form, f: dict, choices: dict) -> dict:
    """The filter form's choices; a value from the URL that is not among them (a subscription one can
    no longer read, a typo) stays visible as selected, so the form says what the table is filtered by."""
    subs, locations, groups = choices["subscriptions"], choices["locations"], choices["resource_groups"]
    known = {g for g, _ in subs}
    subs = subs + [(g, f"{g} (not available)") for g in f["sub"] if g not in known]
    if f["location"] and f["location"].lower() not in {n for n, _ in locations}:
        locations = [*locations, (f["location"], f"{f['location']} (no resources)")]
    if f["rg"] and f["rg"].lower() not in {n.lower() for n in groups}:
        groups = [*groups, f["rg"]]
    tag = f["tag"]
    raw = form.data
    return {
        "subscriptions": subs,
        "locations": locations,
        "resource_groups": [(name, name) for name in groups],
        "rg_selected": next((name for name in groups if name.lower() == f["rg"].lower()), None),
        "selected_subs": {str(g) for g in f["sub"]} | set(raw.getlist("sub") if form.errors else []),
        "types": [
            (t, f"{label} (hidden type)" if t in HIDDEN_TYPES else label) for t, label in TYPE_LABELS.items()
        ],
        "tag_text": (tag[0] if tag[1] is None else f"{tag[0]}={tag[1]}")
        if tag
        else raw.get("tag", "")
        if form.errors
        else "",
    }


class _Echo:
    def write(self, value):
        return value


CSV_HEADER = ["Name", "Type", "Resource group", "Location", "Subscription", "Tags", "Resource id"]


def _cell(value) -> str:
    """A spreadsheet must not read a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(qs):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for r in qs.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _cell(display_name(r)),
                _cell(TYPE_LABELS.get(r.type, r.type)),
                _cell(r.rg_name),
                _cell(r.location.display_name if r.location else ""),
                _cell(r.sub_name),
                _cell(json.dumps(r.tags, sort_keys=True, ensure_ascii=False) if r.tags else ""),
                _cell(r.arm_id),
            ]
        )


def _csv_response(request, qs):
    """The whole filtered result, not just the page, streamed: 100,000 rows never sit in memory."""
    directory = current_directory(request)
    slug = (directory.primary_domain if directory else "resources").replace(".", "-")
    response = StreamingHttpResponse(_csv_rows(qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="resources-{slug}-{date.today().isoformat()}.csv"'
    )
    return response


@login_required
def search(request):
    """The global search by name: the top 20 resources (any type, hidden ones too) the user may read
    in the current directory whose name contains q — names starting with q first."""
    q = request.GET.get("q", "").strip()[:256]
    results, more = [], False
    if q:
        results = list(
            with_columns(readable_here(request).filter(name_matches(q)))
            .annotate(
                starts=Case(
                    When(name__istartswith=q, then=Value(0)),
                    When(type=SUBSCRIPTION, as_subscription__display_name__istartswith=q, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                )
            )
            .order_by("starts", SORT_NAME, "id")[: SEARCH_LIMIT + 1]
        )
        more = len(results) > SEARCH_LIMIT
        results = results[:SEARCH_LIMIT]
        for r in results:
            r.type_label = TYPE_LABELS.get(r.type, r.type)
            r.display_name = display_name(r)
    context = {
        "q": q,
        "results": results,
        "limit": SEARCH_LIMIT,
        "more": more,
        "all_query": _query({"q": q, "hidden": True}),
    }
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "portal/htmx/search_results.html", context)
    else:
        response = render(request, "portal/search.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response
