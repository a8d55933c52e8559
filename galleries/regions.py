"""Region lookup (``westeurope`` or ``West Europe``): the one implementation is ``accounts.regions``,
below both apps, since resource groups (accounts) have a location too."""

from accounts.regions import normalize, resolve_region

__all__ = ["normalize", "resolve_region"]
