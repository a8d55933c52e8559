from django.urls import include, path

from .views import uploads

urlpatterns = [
    path("uploads/", uploads.upload_start, name="upload-start"),
    path("uploads/<int:pk>", uploads.upload_detail, name="upload-detail"),
    path("versions/<int:pk>/replication", uploads.version_replication, name="version-replication"),
    path("", include("galleries.views.resources")),
    path("", include("galleries.views.versions")),
    path("", include("galleries.views_deploy")),
    path("", include("galleries.views_lifecycle")),
    # last: any other path under /uploads/ (the page /uploads/new is above) answers the uploads' JSON 404
    path("uploads/<path:rest>", uploads.upload_not_found),
]
