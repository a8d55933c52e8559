from django.urls import include, path

from .views import uploads

#: The replication poll: asked every 2 s by every open version page while anything is in flight, so
#: ``portal.urls`` tries it first (resolving it behind every other page's pattern cost ~55 µs a poll).
polled = [
    path("versions/<int:pk>/replication", uploads.version_replication, name="version-replication"),
]

urlpatterns = [
    path("uploads/", uploads.upload_start, name="upload-start"),
    path("uploads/<int:pk>", uploads.upload_detail, name="upload-detail"),
    path("", include("galleries.views.resources")),
    path("", include("galleries.views.versions")),
    path("", include("galleries.views_deploy")),
    path("", include("galleries.views_lifecycle")),
    # last: any other path under /uploads/ (the page /uploads/new is above) answers the uploads' JSON 404
    path("uploads/<path:rest>", uploads.upload_not_found),
]
