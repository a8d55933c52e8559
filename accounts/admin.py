"""Operators' view of the directory and the resource graph. Changes to resources belong in the
portal and the API (they go through the service layer's rules); here resources are read-only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from . import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """What is written in the portal, where access is checked and every change is logged (resources,
    role assignments, partner entries, requests), or is a record of what happened (the activity log):
    operators see it here, and add or change nothing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """A read-only admin's rows of a related table, shown as they are."""

    extra = 0
    can_delete = False


class ReadOnlyResourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "type", "location", "tenant", "created_at")
    list_filter = ("type", "tenant")
    search_fields = ("name", "arm_id")


@admin.register(models.User)
class PortalUserAdmin(UserAdmin):
    """A new password set here (the password form) ends the principal's bearer tokens (``User.save``);
    "End bearer tokens" ends them without one. Staff and superusers get no bearer tokens at all."""

    list_display = ("username", "display_name", "kind", "home_tenant", "is_tenant_admin", "is_staff")
    list_filter = ("kind", "home_tenant", "is_tenant_admin", "is_staff")
    fieldsets = UserAdmin.fieldsets + (
        (
            "Directory",
            {"fields": ("home_tenant", "kind", "display_name", "is_tenant_admin", "credential_generation")},
        ),
    )
    readonly_fields = ("credential_generation",)
    actions = ["end_tokens"]

    @admin.action(description="End bearer tokens of the selected principals", permissions=["change"])
    def end_tokens(self, request, queryset):
        for user in queryset:
            user.end_tokens()
        self.message_user(
            request,
            f"Bearer tokens issued so far to {queryset.count()} principal(s) are refused from now on.",
        )


# Lists that need nothing but their columns: ``register`` makes their ``ModelAdmin`` from the options.
admin.site.register(
    models.Tenant,
    list_display=("name", "primary_domain", "tenant_id", "created_at"),
    search_fields=("name", "primary_domain"),
)
admin.site.register(
    models.DirectoryGroup, list_display=("display_name", "tenant", "object_id"), list_filter=("tenant",)
)
admin.site.register(
    models.AppRegistration, list_display=("display_name", "home_tenant", "client_id", "multi_tenant")
)
# Deleting a secret here ends the bearer tokens of the app's service principals (``accounts.models``).
admin.site.register(
    models.ClientSecret,
    list_display=("app", "description", "hint", "expires_at"),
    readonly_fields=("secret_hash",),
)
admin.site.register(models.ServicePrincipal, list_display=("user", "app", "tenant", "created_at"))
admin.site.register(
    models.GuestInvitation, list_display=("user", "tenant", "state", "created_at", "accepted_at")
)


@admin.register(models.Subscription)
class SubscriptionAdmin(ReadOnlyResourceAdmin):
    list_display = (
        "display_name",
        "guid",
        "tenant",
        "state",
        "limit_galleries",
        "limit_definitions",
        "limit_versions",
    )

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser  # operators enable and disable subscriptions here

    def get_readonly_fields(self, request, obj=None):
        """Limits and allowed restricted regions change on the operators' page (``/administration/operator/``),
        through the service layer and the activity log; only the state is edited here."""
        return [f.name for f in self.model._meta.fields if f.name != "state"] + ["allowed_restricted_regions"]


@admin.register(models.ResourceGroup)
class ResourceGroupAdmin(ReadOnlyResourceAdmin):
    pass


@admin.register(models.ActivityLogEntry)
class ActivityLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "principal_name", "operation", "resource_arm_id", "status", "source")
    list_filter = ("status", "source", "operation")
    search_fields = ("resource_arm_id", "principal_name", "message")


# The role assignments of users and of groups: the same list but for who holds the role.
for model, holder, holder_name in (
    (models.UserRoleAssignment, "user", "user__username"),
    (models.GroupRoleAssignment, "group", "group__name"),
):
    admin.site.register(
        model,
        ReadOnlyAdmin,
        list_display=(holder, "permission", "content_object", "granted_by", "granted_at"),
        list_select_related=(holder, "permission", "content_object", "granted_by"),
        search_fields=(holder_name, "content_object__arm_id"),
    )
admin.site.register(
    models.PartnerTenant,
    ReadOnlyAdmin,
    list_display=("tenant", "partner", "inbound", "outbound", "created_at"),
)


@admin.register(models.SubscriptionRequest)
class SubscriptionRequestAdmin(ReadOnlyAdmin):
    """Requests are sent and decided on the administration pages (logged, applied by the service)."""

    list_display = (
        "subscription",
        "kind",
        "region",
        "limit_name",
        "wanted_value",
        "state",
        "requested_by",
        "requested_at",
    )
    list_filter = ("state", "kind")
    list_select_related = ("subscription", "region", "requested_by")
