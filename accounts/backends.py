"""Django's permission API over the access module (issue 12, item 8).

Role assignments are stored as django-guardian object permissions, but guardian's own backend answers
``has_perm`` from the rows alone: it knows nothing of the doors across tenants (an accepted invitation,
a consent, both partner entries), nothing of inheritance, nothing of an app acting as one principal over
its service principals. Any caller of ``has_perm`` — DRF's ``DjangoObjectPermissions``, a template's
``perms``, the admin — would then see access that every page and endpoint refuses. This backend takes
guardian's place in ``AUTHENTICATION_BACKENDS`` (before ``ModelBackend``), so that:

- ``user.has_perm("accounts.role_<key>", resource)`` means "holds that role there": assigned at the
  resource or an ancestor (inheritance runs downward only), to the user, one of its groups or another
  service principal of its app, in a tenant whose door is open, and the role applies to the resource's
  type (``access.roles_held``). Hence ``access.allowed(user, A, resource)`` is true exactly when the
  user holds, on the resource, some role that grants A. An Owner holds ``role_owner``, not
  ``role_reader``: ask ``access.allowed`` about actions.
- Any other permission on a resource is refused: about a resource only the access module answers.
- A role permission without an object is held by nobody (a role is always held at a scope), even when
  granted globally in the admin; other global permissions (the admin's model permissions) stay
  ``ModelBackend``'s.

Refusals about roles and resources raise ``PermissionDenied``, which makes Django stop asking the other
backends, so none can say yes where this one said no. Django's own rule that an active superuser holds
every permission applies only without an object (``User.has_perm``): operators see everything, but only
in the admin.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from . import access
from .models import Resource
from .roles import ROLE_BY_CODENAME, Role

APP_LABEL = "accounts"


def _role(perm: str) -> Role | None:
    app_label, _, codename = (perm or "").partition(".")
    return ROLE_BY_CODENAME.get(codename) if app_label == APP_LABEL else None


def _is_resource(obj) -> bool:
    return isinstance(obj, Resource)


class AccessBackend:
    """Answers object permissions on resources, and role permissions, from ``accounts.access``."""

    def authenticate(self, request, **credentials):
        return None  # signs nobody in: ModelBackend (behind django-axes) does

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        role = _role(perm)
        if obj is None:
            if role is not None:
                raise PermissionDenied  # held at a scope only: no global answer, from any backend
            return False  # a model permission: ModelBackend's
        if not _is_resource(obj):
            return False
        if role is not None and role in self._held(user_obj, obj):
            return True
        raise PermissionDenied

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is None or not _is_resource(obj):
            return set()
        return {f"{APP_LABEL}.{r.codename}" for r in self._held(user_obj, obj)}

    @staticmethod
    def _held(user_obj, obj) -> list[Role]:
        return access.roles_held(user_obj, obj)
