"""``manage.py managed_identity <client id> [--tenant <domain or id>] [--url <public base>]``: makes the
app's service principal in the tenant (its home tenant by default) a managed identity with a new identity
header, and prints the two environment variables a pipeline beside the portal sets (App Service's
``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``, which azure-identity's ``ManagedIdentityCredential`` and
``DefaultAzureCredential`` read). Running it again replaces the header: tokens got with the old one end.
``--disable`` removes the managed identity."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.grants import TokenError, resolve_tenant
from accounts.models import AppRegistration, ManagedIdentity, ServicePrincipal
from accounts.tokens import as_uuid


class Command(BaseCommand):
    help = (
        "Make an app's service principal a managed identity (prints IDENTITY_ENDPOINT and IDENTITY_HEADER)."
    )

    def add_arguments(self, parser):
        parser.add_argument("client_id", help="The app registration's client id.")
        parser.add_argument("--tenant", default="", help="The tenant (domain or id); default the app's home.")
        parser.add_argument("--url", default="", help="The portal's public base URL (default PUBLIC_URL).")
        parser.add_argument("--disable", action="store_true", help="Remove the managed identity.")

    def handle(self, client_id, tenant, url, disable, **options):
        app = (
            AppRegistration.objects.filter(client_id=as_uuid(client_id)).first()
            if as_uuid(client_id)
            else None
        )
        if app is None:
            raise CommandError(f"No app has the client id '{client_id}'.")
        try:
            target = resolve_tenant(tenant) or app.home_tenant
        except TokenError as err:
            raise CommandError(err.description) from None
        sp = ServicePrincipal.objects.filter(app=app, tenant=target).first()
        if sp is None:
            raise CommandError(f"The app '{app.display_name}' has no service principal in '{target.name}'.")
        if disable:
            ManagedIdentity.objects.filter(service_principal=sp).delete()
            self.stdout.write(
                f"The service principal of '{app.display_name}' in {target.name} is no longer a managed identity."
            )
            return
        _, header = ManagedIdentity.enable(sp)
        base = (url or getattr(settings, "PUBLIC_URL", "") or "https://localhost:8443").rstrip("/")
        self.stdout.write(f"IDENTITY_ENDPOINT={base}/msi/token")
        self.stdout.write(f"IDENTITY_HEADER={header}")
