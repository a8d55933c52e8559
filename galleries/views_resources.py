"""Placeholder: this module's pages are being written (issue 5)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
