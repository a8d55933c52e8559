from django.urls import path

from . import views

urlpatterns = [
    path("uploads/", views.upload_start, name="upload-start"),
    path("uploads/<int:pk>", views.upload_detail, name="upload-detail"),
]
