"""Tenant administration pages (F1): placeholder while the pages are written."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

app_name = "directory"


@login_required
def home(request):
    return HttpResponse("Directory")


@login_required
def my_invitations(request):
    return HttpResponse("Invitations")


urlpatterns = [
    path("", home, name="home"),
    path("invitations/mine", my_invitations, name="my-invitations"),
]
