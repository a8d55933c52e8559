from django.urls import include, path

from . import views, views_identity

V2 = {"version": "2.0"}

urlpatterns = [
    path("oauth2/token", views.token, name="token"),
    path("<str:tenant>/oauth2/token", views.token, name="tenant-token-v1"),
    path("<str:tenant>/oauth2/v2.0/token", views.token, V2, name="tenant-token"),
    path("<str:tenant>/oauth2/authorize", views_identity.authorize, name="authorize-v1"),
    path("<str:tenant>/oauth2/v2.0/authorize", views_identity.authorize, V2, name="authorize"),
    path(
        "<str:tenant>/.well-known/openid-configuration",
        views_identity.openid_configuration,
        name="openid-configuration-v1",
    ),
    path(
        "<str:tenant>/v2.0/.well-known/openid-configuration",
        views_identity.openid_configuration,
        V2,
        name="openid-configuration",
    ),
    path("<str:tenant>/discovery/keys", views_identity.jwks, name="jwks-v1"),
    path("<str:tenant>/discovery/v2.0/keys", views_identity.jwks, V2, name="jwks"),
    path("common/userrealm/<str:name>", views_identity.userrealm, name="userrealm"),
    path("msi/token", views_identity.managed_identity_token, name="managed-identity-token"),
    path("directory/switch", views.switch_directory, name="switch-directory"),
    path("directory/", include("accounts.views_directory")),
    path("resources/<int:pk>/access/", include("accounts.views_access")),
    path("administration/", include("accounts.views_admin")),
]
