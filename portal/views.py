from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "portal/home.html", {})


def healthz(request):
    return JsonResponse({"status": "ok"})
