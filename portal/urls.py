from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from galleries import urls as gallery_urls
from galleries.api import urls as api_urls
from galleries.views import overview as resource_pages
from portal.core.arm import api_routes

from . import health, notifications, views

urlpatterns = [
    # The API first, for its paths only (``StartsWith``); its catch-all 404s last, after the pages.
    *api_routes("galleries.api.urls", "accounts.api.urls"),
    path("", include(gallery_urls.polled)),  # the replication poll, the most requested page
    path("", views.home, name="home"),
    path("search", views.search, name="search"),
    path("healthz", health.healthz, name="healthz"),
    path("notifications/", notifications.notifications, name="notifications"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("resources/<int:pk>/", resource_pages.overview, name="resource-overview"),
    path("", include("portal.metadata")),
    path("", include("portal.reports")),
    path("", include("portal.resource_views")),
    path("", include("portal.template_views")),
    path("", include("accounts.urls")),
    path("", include("galleries.urls")),
    path("", include("portal.api_docs_urls")),
    path("", include(api_urls.fallbacks)),
]

handler400 = "portal.core.inputs.bad_request"
handler500 = "portal.core.inputs.server_error"
