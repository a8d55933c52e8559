"""The lists of the directory pages as django-tables2 tables (sortable columns, pages of 50), shown by
``portal.core.generic.ObjectListView`` like every resource list. The rows are already scoped to the
administrator's tenant by the view; a row's buttons post to the row's own URL
(``portal/components/post_button.html``)."""

from __future__ import annotations

import django_tables2 as tables
from django.template.defaultfilters import date as date_format
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .access import partner_open
from .models import GuestInvitation, User

WHEN = "Y-m-d H:i"
NONE = mark_safe('<span class="muted">—</span>')


def post_button(table, url: str, label: str, confirm: str = "", **extra) -> str:
    """A button posting to ``url`` (with the request's CSRF token), asking ``confirm`` first."""
    context = {"url": url, "label": label, "confirm": confirm, **extra}
    return render_to_string("portal/components/post_button.html", context, request=table.request)


def muted(text: str):
    return format_html('<span class="muted">{}</span>', text)


def tag(text: str, css: str = ""):
    return format_html('<span class="tag{}">{}</span>', f" {css}" if css else "", text)


def kind_of(user: User, tenant_id: int) -> str:
    """A user of another tenant is a guest here; otherwise its kind."""
    if user.kind == User.Kind.PERSON and user.home_tenant_id != tenant_id:
        return "Guest"
    return user.get_kind_display()


class DirectoryTable(tables.Table):
    """The directory's tables: the list template of every table, no row selection."""

    always_shown: tuple = ()
    table_id = ""  # the table's HTML id
    default_order: tuple[str, ...] = ()
    actions = tables.Column("", empty_values=(), orderable=False)

    def __init__(self, *args, **kwargs):
        super().__init__(
            *args,
            attrs={"class": "resource-list", "id": self.table_id},
            order_by=self.default_order,
            sequence=("...", "actions") if "actions" in self.base_columns else None,
            template_name="portal/components/table.html",
            empty_text="Nothing matches the search.",
            **kwargs,
        )

    @property
    def tenant_id(self) -> int:
        return self.request.user.home_tenant_id


class UserTable(DirectoryTable):
    """The tenant's users and service principals, and its accepted guests."""

    username = tables.Column("Username")
    display_name = tables.Column("Display name")
    kind = tables.Column("Kind", order_by=("kind", "username"))
    is_tenant_admin = tables.Column("Administrator")

    table_id, default_order = "users", ("kind", "username")

    def render_kind(self, record):
        if kind_of(record, self.tenant_id) == "Guest":
            return format_html("Guest {}", muted(f"from {record.home_tenant.name}"))
        return record.get_kind_display()

    def render_is_tenant_admin(self, value):
        return tag("Admin") if value else ""

    def render_actions(self, record):
        if record.home_tenant_id != self.tenant_id:
            return format_html('<a href="{}">Invitation</a>', reverse("directory:invitations"))
        if record.kind != User.Kind.PERSON:
            return muted("via its app")
        if record.pk == self.request.user.pk:
            return ""
        return format_html('<a href="{}">Delete</a>', reverse("directory:user-delete", args=[record.pk]))


class GroupTable(DirectoryTable):
    display_name = tables.Column("Name", linkify=lambda record: reverse("directory:group", args=[record.pk]))
    description = tables.Column("Description", orderable=False)
    members = tables.Column("Members")

    table_id, default_order = "groups", ("display_name",)

    def render_actions(self, record):
        return format_html('<a href="{}">Delete</a>', reverse("directory:group-delete", args=[record.pk]))


class MemberTable(DirectoryTable):
    """A group's members; ``group`` is the group whose Remove buttons these are."""

    display_name = tables.Column("Name")
    username = tables.Column("Username")
    kind = tables.Column("Kind", order_by=("kind", "username"))

    table_id, default_order = "members", ("kind", "username")

    group = None  # set by the page: the group whose Remove buttons these are

    def render_kind(self, record):
        return kind_of(record, self.tenant_id)

    def render_actions(self, record):
        url = reverse("directory:group-member-remove", args=[self.group.pk, record.pk])
        return post_button(self, url, "Remove")


class AppTable(DirectoryTable):
    display_name = tables.Column("Name", linkify=lambda record: reverse("directory:app", args=[record.pk]))
    client_id = tables.Column("Client id", orderable=False)
    multi_tenant = tables.Column("Supported tenants")
    n_secrets = tables.Column("Secrets")
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Created")
    actions = None

    table_id, default_order = "apps", ("display_name",)

    def render_client_id(self, value):
        return format_html("<code>{}</code>", value)

    def render_multi_tenant(self, value):
        return "Multi-tenant" if value else "Single tenant"


class SecretTable(DirectoryTable):
    hint = tables.Column("Value", orderable=False)
    description = tables.Column("Description")
    expires_at = tables.DateTimeColumn(WHEN, verbose_name="Expires")
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Created")

    table_id, default_order = "secrets", ("-created_at",)

    def render_hint(self, value):
        return format_html("<code>{}…</code>", value)

    def render_expires_at(self, record, value):
        when = date_format(value, WHEN)
        return format_html("{} {}", when, tag("Expired", "state-failed")) if record.expired else when

    def render_actions(self, record):
        url = reverse("directory:app-secret-delete", args=[record.app_id, record.pk])
        question = f"Delete the client secret {record.hint}…? Clients using it can no longer sign in."
        return post_button(self, url, "Delete", question)


class ServicePrincipalTable(DirectoryTable):
    app = tables.Column("App", accessor="app__display_name")
    client_id = tables.Column("Client id", accessor="app__client_id", orderable=False)
    home_tenant = tables.Column("App's home tenant", accessor="app__home_tenant__name")
    origin = tables.Column("Origin", empty_values=(), orderable=False)
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Since")

    table_id, default_order = "service-principals", ("app",)

    def is_home(self, record) -> bool:
        return record.app.home_tenant_id == self.tenant_id

    def render_app(self, record, value):
        if self.is_home(record):
            return format_html('<a href="{}">{}</a>', reverse("directory:app", args=[record.app_id]), value)
        return value

    def render_client_id(self, value):
        return format_html("<code>{}</code>", value)

    def render_origin(self, record):
        if self.is_home(record):
            return tag("Home")
        by = f" by {record.consented_by.username}" if record.consented_by else ""
        return format_html("{}{}", tag("Consented"), by)

    def render_actions(self, record):
        if self.is_home(record):
            return muted("delete the app to remove")
        url = reverse("directory:sp-withdraw", args=[record.pk])
        return format_html('<a href="{}">Withdraw consent</a>', url)


class InvitationTable(DirectoryTable):
    user = tables.Column("User", accessor="user__username")
    home_tenant = tables.Column("Home tenant", accessor="user__home_tenant__name")
    state = tables.Column("State")
    invited_by = tables.Column("Invited by", accessor="invited_by__username", default="—")
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Invited")
    accepted_at = tables.DateTimeColumn(WHEN, verbose_name="Accepted", default="—")

    table_id, default_order = "invitations", ("state", "user")

    def render_state(self, value):
        return tag(value)

    def render_actions(self, record):
        if record.state == GuestInvitation.State.REVOKED:
            return ""
        url = reverse("directory:invitation-revoke", args=[record.pk])
        question = (
            f"Revoke the invitation of {record.user.username}? Their role assignments here are removed."
        )
        return post_button(self, url, "Revoke", question)


class MyInvitationTable(DirectoryTable):
    """The invitations addressed to the signed-in user; an accepted one gives access only while the
    partner settings of both tenants allow it."""

    tenant = tables.Column("Tenant", accessor="tenant__name")
    state = tables.Column("State")
    invited_by = tables.Column("Invited by", accessor="invited_by__username", default="—")
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Invited")

    table_id, default_order = "my-invitations", ("tenant",)

    def render_tenant(self, record):
        return format_html("{} {}", record.tenant.name, muted(f"({record.tenant.primary_domain})"))

    def render_state(self, record, value):
        if value == GuestInvitation.State.ACCEPTED and not partner_open(
            record.user.home_tenant_id, record.tenant_id
        ):
            return format_html(
                "{} {}", tag(value), muted("not active: the partner settings do not allow access")
            )
        return tag(value)

    def render_actions(self, record):
        buttons = []
        pending = record.state == GuestInvitation.State.PENDING
        if pending:
            url = reverse("directory:my-invitation-accept", args=[record.pk])
            buttons.append(post_button(self, url, "Accept", css="primary"))
        if record.state != GuestInvitation.State.REVOKED:
            url = reverse("directory:my-invitation-leave", args=[record.pk])
            verb = "Decline" if pending else "Leave"
            question = f"{'Decline the invitation of' if pending else 'Leave'} {record.tenant.name}?"
            buttons.append(post_button(self, url, verb, question))
        return format_html(
            '<div class="filters">{}</div>', format_html_join("", "{}", ((b,) for b in buttons))
        )


class PartnerTable(DirectoryTable):
    partner = tables.Column("Tenant", accessor="partner__name")
    partner_id = tables.Column("Tenant id", accessor="partner__tenant_id", orderable=False)
    flags = tables.Column("Inbound / outbound", empty_values=(), orderable=False)
    created_at = tables.DateTimeColumn(WHEN, verbose_name="Added")

    table_id, default_order = "partners", ("partner",)

    def render_partner(self, record):
        return format_html("{} {}", record.partner.name, muted(f"({record.partner.primary_domain})"))

    def render_partner_id(self, value):
        return format_html("<code>{}</code>", value)

    def render_flags(self, record):
        boxes = format_html(
            '<label><input type="checkbox" name="inbound" value="1"{}> Inbound</label> '
            '<label><input type="checkbox" name="outbound" value="1"{}> Outbound</label> ',
            mark_safe(" checked") if record.inbound else "",
            mark_safe(" checked") if record.outbound else "",
        )
        url = reverse("directory:partner-update", args=[record.pk])
        return post_button(self, url, "Save", before=boxes, form_class="filters")

    def render_actions(self, record):
        url = reverse("directory:partner-remove", args=[record.pk])
        question = f"Remove the partner {record.partner.name}? Cross-tenant access with it ends now."
        return post_button(self, url, "Remove", question)
