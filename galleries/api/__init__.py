"""The ARM-compatible REST API (F19), the edge of the galleries app for ARM clients.

``views`` (galleries, definitions, versions, operation status) and ``resources`` (subscriptions,
resource groups, resource listings, managed images and snapshots) are DRF views on
``portal.core.arm.ArmView``; ``urls`` routes them (included by ``portal.urls``); ``arm`` turns bodies
into the service layer's arguments and rows into ARM JSON; ``arm_versions`` is what each api-version
knows; ``operations`` the long-running operations (``Azure-AsyncOperation``); ``schema`` and
``schema_components`` the OpenAPI description (drf-spectacular hooks named in
``portal.settings.spectacular``). The domain never imports this package.
"""
