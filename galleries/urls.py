from django.urls import include, path

from . import views

urlpatterns = [
    path("uploads/", views.upload_start, name="upload-start"),
    path("uploads/<int:pk>", views.upload_detail, name="upload-detail"),
    path("versions/<int:pk>/", views.version_detail, name="version-detail"),
    path("versions/<int:pk>/replication", views.version_replication, name="version-replication"),
    path("versions/<int:pk>/retry", views.version_retry, name="version-retry"),
    path("", include("galleries.views_resources")),
    path("", include("galleries.views_versions")),
    path("", include("galleries.views_deploy")),
    path("", include("galleries.views_lifecycle")),
    # last: any other path under /uploads/ (the page /uploads/new is above) answers the uploads' JSON 404
    path("uploads/<path:rest>", views.upload_not_found),
]
