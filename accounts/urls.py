from django.urls import include, path

from . import views

urlpatterns = [
    path("oauth2/token", views.token, name="token"),
    path("<str:tenant>/oauth2/v2.0/token", views.token, name="tenant-token"),
    path("directory/switch", views.switch_directory, name="switch-directory"),
    path("directory/", include("accounts.views_directory")),
    path("resources/<int:pk>/access/", include("accounts.views_access")),
    path("administration/", include("accounts.views_admin")),
]
