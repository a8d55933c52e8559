from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Directory and access"

    def ready(self):
        from . import lookups  # noqa: F401  (registers the in_ids lookup)
