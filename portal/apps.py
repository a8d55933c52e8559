from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from django.core import checks

        from .secret_key import check_secret_key

        checks.register(check_secret_key, checks.Tags.security, deploy=True)
