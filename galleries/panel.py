"""The replication panel of a version page (F9), also polled by htmx every 2 s while anything is in flight.

A browser with the page open asks for this panel 30 times a minute, so it is built to cost little more
than the session lookup every request pays. The panel's rows — the version (with the columns of its
access chain), its target regions and the definition's latest version per region, three prepared
queries (``portal.core.prepared``) read as plain rows — are kept by the process under the definition's
replication stamp (``ReplicationStamp``: database triggers replace it on any change to what the panel
shows), read before them: while it reads the same, a poll reads the two stamps and nothing else; on
PostgreSQL a browser's revalidation (304) reads not even them while this process's listener has heard no
notice of a change to the definition's panel or to the grants since (``portal.core.notices``). The
access check is ``access.allowed`` on the version's row (the person's grants on the chain, kept under
the grants stamp; the chain's assignments are read only when nothing is kept or the stamp moved). The
ETag is a digest of the rows, and the table is a Jinja2 template rendered once per ETag. The rules it
shows (in flight, percent, aggregated state, latest) are the models' and services' own functions.

(The three reads are not folded into one statement on PostgreSQL as the ARM GET's are,
``portal.core.prepared.json_rows``: for 30 regions and the definition's latest rows, building the JSON
costs the server more than the two statements save the client — measured, docs/benchmarks.md.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from accounts import access
from accounts.access import ANCESTOR_COLUMNS
from accounts.roles import Action
from portal.core import inputs, notices
from portal.core.prepared import Prepared, run_together
from portal.core.sizes import format_size

from . import services
from .models import (
    GalleryImageVersion,
    ReplicationStamp,
    TargetRegion,
    aggregated_state,
    region_in_flight,
    region_percent,
)
from .services.checks import ChainRow

_VERSION_COLUMNS = ("pk", "type", *ANCESTOR_COLUMNS, "name", "provisioning_state", "location_id")


@dataclass(slots=True)
class PanelVersion(ChainRow):
    """What the panel (and the access check, through the chain columns) needs of a version."""

    name: str
    provisioning_state: str
    location_id: int


assert ANCESTOR_COLUMNS == ("subscription_id", "resource_group_id", "gallery_id", "definition_id")

_VERSION = Prepared(lambda pk: GalleryImageVersion.objects.filter(pk=pk).values_list(*_VERSION_COLUMNS))
#: The same row with the grants stamp (``access.stamp_column``) and its definition's replication stamp
#: (``ReplicationStamp``, None when the row is missing) as its last columns, read first.
_VERSION_STAMPED = Prepared(
    lambda pk: GalleryImageVersion.objects.filter(pk=pk)
    .annotate(
        grants_stamp=access.stamp_column(),
        replication_stamp=Subquery(
            ReplicationStamp.objects.filter(definition_id=OuterRef("definition_id")).values("value")
        ),
    )
    .values_list(*_VERSION_COLUMNS, "grants_stamp", "replication_stamp")
)
#: Both stamps alone: what a poll of a kept panel reads (``load``).
_STAMPS = Prepared(
    lambda definition: ReplicationStamp.objects.filter(definition_id=definition)
    .annotate(grants_stamp=access.stamp_column())
    .values_list("value", "grants_stamp")
)
_REGIONS = Prepared(
    lambda version: TargetRegion.objects.filter(version_id=version)
    .order_by("region__display_name")
    .values_list(
        "region_id",
        "region__display_name",
        "replica_count",
        "storage_account_type",
        "exclude_from_latest",
        "state",
        "bytes_done",
        "bytes_total",
        "attempts",
        "last_error",
        "revision",
        "done_revision",
        "removing",
    )
)


def _latest(definition, distinct=False):
    rows = services.latest_candidates(definition).order_by("region_id", *services.LATEST_FIRST)
    return (rows.distinct("region_id") if distinct else rows).values_list(
        "region_id", "version_id", "version__name"
    )


#: The definition's latest per region: its candidates in ``LATEST_FIRST``
#: order per region, the first of each region kept (``load``). On PostgreSQL the server keeps only that
#: first row (``DISTINCT ON``), so a definition with a long history sends one row per region, not one
#: per version and region; SQLite has no ``DISTINCT ON``, and its window functions cost it more than the
#: rows they save (measured, docs/benchmarks.md).
_LATEST = Prepared(lambda definition: _latest(definition))
_LATEST_FIRST_ONLY = Prepared(lambda definition: _latest(definition, distinct=True))


@dataclass(slots=True)
class PanelRegion:
    region_id: int
    display_name: str
    replica_count: int
    storage_account_type: str
    exclude_from_latest: bool
    state: str
    bytes_done: int
    bytes_total: int
    attempts: int
    last_error: str
    in_flight: bool
    percent: int
    removing: bool
    done_text: str  # bytes_done and bytes_total as ``portal.core.sizes.format_size`` writes them
    total_text: str
    latest: tuple[int, str, str] | None  # the definition's latest version here: (pk, name, href)


#: version id → (definition id, scope ids of its chain), remembered by this process: a resource's
#: ancestors never change, so the chain's assignments can be read in the same round trip as the rest.
#: Only a prediction — the version row read with them is compared, and a stale entry is read again.
_CHAINS: dict[int, tuple[int, frozenset]] = {}
_CHAINS_MAX = 20_000


def _chain(version: PanelVersion) -> tuple[int, frozenset]:
    return version.definition_id, frozenset(v for v in access.chain_of(version).values() if v)


def remember(version) -> None:
    """Seed the remembered chain from a version the caller already holds (the version page)."""
    if len(_CHAINS) >= _CHAINS_MAX:
        _CHAINS.clear()
    _CHAINS[version.pk] = _chain(version)


class Panel:
    """The panel of one version as one principal sees it. Its ETag and whether anything is in flight
    are known from the rows alone; the table's context is built only when the panel is rendered, so a
    revalidated poll (304) never builds it."""

    __slots__ = ("version", "etag", "in_flight", "_rows", "_can_write", "_context")

    def __init__(self, version: PanelVersion, latest: dict, region_rows, can_write: bool, etag: str):
        self.version, self.etag = version, etag
        self._rows = (latest, region_rows)
        self._can_write = can_write
        self._context: dict | None = None
        self.in_flight = any(
            region_in_flight(state, removing, revision, done_revision)
            for *_, state, _done, _total, _attempts, _error, revision, done_revision, removing in region_rows
        )

    def context(self) -> dict:
        if self._context is None:
            self._context = _context(self.version, *self._rows, self._can_write)
            self._context["etag"] = self.etag
        return self._context


@dataclass(slots=True)
class _Kept:
    """A version's panel rows as one read gave them, kept by this process under its definition's
    replication stamp read before them; and the panels built from them (by whether the viewer may write:
    the ETag and the table differ)."""

    stamp: int
    version_row: tuple
    version: PanelVersion
    latest: dict
    region_rows: list
    probe: bool  # the next poll reads the stamps alone first (it read the same stamp twice in a row)
    panels: dict
    #: (the notices' token taken before the last read that gave or confirmed these rows, the grants stamp
    #: that read found), or None: replaced whole, never in part (``load``'s revalidation, without a read)
    quiet: tuple | None = None

    @property
    def notice_key(self) -> str:
        return f"replication:{self.version.definition_id}"


#: version id → its kept panel rows; at most ``KEPT_MAX``, cleared when full (one statement: the
#: threads of the process share the dict, and an entry is only ever replaced whole). An entry of 30
#: regions with its built panels is some 25–40 KB (27 KB measured with one): at most ~40 MB a process.
_KEPT: dict[int, _Kept] = {}
KEPT_MAX = 1024


def load(principal, pk: int, revalidating: str | None = None, _again: bool = True) -> Panel | None:
    """The panel of version ``pk`` if ``principal`` may read it, else None (the caller answers 404).

    ``revalidating``: the ETag a browser sent back (a lone ``If-None-Match`` of a GET). On PostgreSQL,
    when this process keeps the panel and has heard no notice of a change to its definition's panel or to
    anyone's grants since it last read them (``portal.core.notices``), a panel in flight whose ETag is
    that one is answered without a read: the browser keeps what it has (304). Anything with a body is
    read as below.

    A panel this process keeps (``_Kept``) whose definition's replication stamp still reads the same
    costs one statement: both stamps. Otherwise, once this process knows the version's chain, everything
    — the version row with both stamps, its target regions, the definition's latest per region, and
    (unless this process keeps the principal's grants on the chain under that grants stamp) the
    principal's guest tenants and assignments on the chain — is read in one round trip (PostgreSQL:
    three or four statements pipelined; on SQLite one after another), and kept. A panel that changed
    since the last poll (a replication in progress) is read whole at once the next time too, without
    asking for the stamps first, until two reads in a row find the same stamp.

    Nothing kept is used, nor kept, inside a transaction block (``access.may_keep``)."""
    if inputs.row_id(pk) is None:  # no row has it (and a 20-digit id would overflow SQLite's integer)
        return None
    outside = access.may_keep()
    before = _KEPT.get(pk) if outside else None
    if before is not None and revalidating is not None and before.quiet is not None:
        token, grants_stamp = before.quiet
        if notices.quiet_since(token, before.notice_key, "grants"):
            scope_ids = frozenset(v for v in access.chain_of(before.version).values() if v)
            kept = access.kept(principal, scope_ids)
            access.take_chain_reads(principal, before.version, [], stamp=grants_stamp, kept=kept)
            shown = _shown(principal, before)
            if shown is not None and shown.in_flight and shown.etag == revalidating:
                return shown
    if before is not None and before.probe:
        token = notices.token()  # before the read: a notice after it is a change the read may not show
        found = _STAMPS.rows(definition=before.version.definition_id)
        if found and found[0][0] == before.stamp:
            before.quiet = None if token is None else (token, found[0][1])
            scope_ids = frozenset(v for v in access.chain_of(before.version).values() if v)
            kept = access.kept(principal, scope_ids)
            access.take_chain_reads(principal, before.version, [], stamp=found[0][1], kept=kept)
            return _shown(principal, before)
    known = _CHAINS.get(pk)
    if known is None:
        found = _VERSION.rows(pk=pk)
        if not found:
            return None
        version = PanelVersion(*found[0])
        remember(version)
        known = _CHAINS[pk]
    definition_id, scope_ids = known
    # The principal's grants on the chain, kept by this process under the grants stamp: read the stamp
    # (a column of the version's row) instead of the chain's assignments, which are read only when
    # nothing is kept; when the stamp moved, they are read after the rest (``access.kept``).
    kept = access.kept(principal, scope_ids)
    reads = [] if kept is not None else (access.chain_reads(principal, scope_ids) or [])
    token = notices.token() if outside else None  # before the reads (see the probe above)
    version_rows, latest_rows, region_rows, *chain_rows = run_together(
        [
            (_VERSION_STAMPED, {"pk": pk}),
            (
                _LATEST_FIRST_ONLY if connection.vendor == "postgresql" else _LATEST,
                {"definition": definition_id},
            ),
            (_REGIONS, {"version": pk}),
        ]
        + reads
    )
    if not version_rows:
        _CHAINS.pop(pk, None)
        _KEPT.pop(pk, None)
        return None
    *version_row, grants_stamp, replication_stamp = version_rows[0]
    version = PanelVersion(*version_row)
    if _chain(version) != known:  # remembered from another row with this id (a reused id): read again
        _CHAINS.pop(pk, None)
        return load(principal, pk, revalidating, _again=False) if _again else None
    access.take_chain_reads(principal, version, chain_rows, stamp=grants_stamp, kept=kept)
    latest: dict[int, tuple[int, str]] = {}  # region → its latest (version id, name): the first row
    for region_id, version_id, name in latest_rows:
        if region_id not in latest:
            latest[region_id] = (version_id, name)
    # Ask for the stamps first next time only if this read found what the last one did (an unchanged
    # panel), or nothing was kept: a panel in progress changes between polls, and its poll would pay for
    # the stamps' read and then read everything anyway.
    probe = before is None or (not before.probe and before.stamp == replication_stamp)
    quiet = None if token is None else (token, grants_stamp)
    rows = _Kept(replication_stamp, tuple(version_row), version, latest, region_rows, probe, {}, quiet)
    if outside and replication_stamp is None:  # no stamp row (a flushed database): nothing is kept
        _KEPT.pop(pk, None)
    elif outside:
        if len(_KEPT) >= KEPT_MAX:
            _KEPT.clear()
        _KEPT[pk] = rows
    return _shown(principal, rows)


def _shown(principal, rows: _Kept) -> Panel | None:
    """The panel of ``rows`` as ``principal`` sees it, or None. No query: the grants on the version's
    chain were taken before (``access.take_chain_reads``)."""
    if not access.allowed(principal, Action.READ, rows.version):
        return None
    can_write = access.allowed(principal, Action.WRITE, rows.version)
    shown = rows.panels.get(can_write)
    if shown is None:
        etag = _etag([rows.version_row], rows.latest, rows.region_rows, can_write)
        shown = rows.panels[can_write] = Panel(rows.version, rows.latest, rows.region_rows, can_write, etag)
    return shown


_TEMPLATE = "galleries/replication_panel.html"
_TEMPLATE_DIGEST = []


def _etag(*inputs) -> str:
    """A validator of everything the panel shows (and of the template that shows it): an unchanged
    panel is answered 304 Not Modified to a browser that sends it back (``If-None-Match``)."""
    if not _TEMPLATE_DIGEST:
        source = (settings.BASE_DIR / "templates" / "jinja2" / _TEMPLATE).read_bytes()
        _TEMPLATE_DIGEST.append(hashlib.blake2b(source, digest_size=8).digest())
    digest = hashlib.blake2b(repr(inputs).encode(), digest_size=16, key=_TEMPLATE_DIGEST[0])
    return f'"{digest.hexdigest()}"'


def _context(version: PanelVersion, latest_of: dict, region_rows, can_write: bool) -> dict:
    latest: dict[int, tuple[int, str, str]] = {}
    hrefs: dict[int, str] = {}
    for region_id, (version_id, name) in latest_of.items():
        if version_id not in hrefs:
            hrefs[version_id] = reverse("version-detail", args=[version_id])
        latest[region_id] = (version_id, name, hrefs[version_id])
    regions = []
    size = format_size
    for (
        region_id,
        display_name,
        replicas,
        storage,
        excluded,
        state,
        done,
        total,
        attempts,
        error,
        revision,
        done_revision,
        removing,
    ) in region_rows:
        regions.append(
            PanelRegion(
                region_id,
                display_name,
                replicas,
                storage,
                bool(excluded),
                state,
                done,
                total,
                attempts,
                error,
                region_in_flight(state, removing, revision, done_revision),
                region_percent(state, done, total),
                bool(removing),
                size(done),
                size(total),
                latest.get(region_id),
            )
        )
    return {
        "version": version,
        "regions": regions,
        "aggregated": aggregated_state({r.state for r in regions if not r.removing}),
        "in_flight": any(r.in_flight for r in regions),
        "any_failed": any(r.state == TargetRegion.State.FAILED for r in regions),
        "can_write": can_write,
    }


#: Rendered panels by ETag, the latest ``_RENDERED_MAX`` in this process. The ETag digests every row the
#: panel shows, whether the viewer may retry and the template itself, so one ETag is one HTML: an
#: unchanged panel is rendered once however many browsers poll it (those that send no ``If-None-Match``,
#: the version page itself). The viewer's CSRF token is put in on each request (``_CSRF_SLOT``).
_RENDERED: dict[str, str] = {}
_RENDERED_MAX = 512
_CSRF_SLOT = "\x00csrf-input\x00"


def render(request, shown: Panel) -> SafeString:
    html = _RENDERED.get(shown.etag)
    if html is None:
        context = {**shown.context(), "csrf_input": mark_safe(_CSRF_SLOT)}
        html = render_to_string(_TEMPLATE, context, using="jinja2")
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.pop(next(iter(_RENDERED)), None)  # the oldest
        _RENDERED[shown.etag] = html
    if _CSRF_SLOT in html:
        html = html.replace(_CSRF_SLOT, _csrf_field(request))
    return mark_safe(html)


#: A CSRF token as Django gives one to a page: 64 letters and digits (a masked secret).
_PAGE_TOKEN = re.compile(r"[A-Za-z0-9]{64}")


def _csrf_field(request) -> str:
    """The retry form's CSRF field. A poll comes from htmx on a version page, carrying that page's token
    in its ``X-CSRFToken`` header (``base.html``'s ``hx-headers``, sent with every htmx request): the
    form gets the same token back, so a poll neither masks a new one nor sends the CSRF cookie again
    (Django's ``get_token`` does both, ~0.1 ms of a poll). The version page itself, or a header that is
    not a token, gets one of its own (``csrf_input``). A token that does not match the session's secret
    fails the POST (403) exactly as it would have failed the page's other htmx requests."""
    token = request.META.get(settings.CSRF_HEADER_NAME, "")
    if _PAGE_TOKEN.fullmatch(token):
        return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
    return csrf_input(request)
