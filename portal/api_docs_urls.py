"""The ARM-compatible API's description (F19): the OpenAPI document and two readers of it, served from
this server's own static files (drf-spectacular-sidecar), never from a CDN.

- ``/api/openapi.json`` (and ``/api/openapi.yaml``): the OpenAPI 3 document, generated from the views
  (``galleries.api_schema``).
- ``/api/docs/``: Swagger UI. ``/api/redoc/``: ReDoc.

Both pages carry a Content-Security-Policy that lets the browser load nothing from another origin
(ReDoc's bundle would otherwise fetch its "API docs by Redocly" logo from Redocly's CDN).
"""

import functools

from django.http import HttpResponse
from django.template import engines
from django.urls import path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
    SpectacularYAMLAPIView,
)

# drf-spectacular's redoc.html loads its fonts from Google; this page is the same without them.
REDOC_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <title>{{ title }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <link rel="icon" href="{{ favicon_href }}">
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <div id="redoc-container"></div>
    <script src="{{ redoc_standalone }}"></script>
    <script>
      Redoc.init("{{ schema_url|escapejs }}", {{ settings|safe }}, document.getElementById("redoc-container"));
    </script>
  </body>
</html>
"""


#: Scripts, styles, images and requests of this origin only; the UIs need inline scripts and styles,
#: data: images, and blob: workers (ReDoc's search).
LOCAL_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)


def local_only(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = LOCAL_ONLY
        return response

    return wrapped


class RedocView(SpectacularRedocView):
    def get(self, request, *args, **kwargs):
        from drf_spectacular.settings import spectacular_settings

        page = engines["django"].from_string(REDOC_PAGE)
        html = page.render(
            {
                "title": self.title,
                "favicon_href": SpectacularSwaggerView._swagger_ui_favicon(),
                "redoc_standalone": self._redoc_standalone(),
                "schema_url": self._get_schema_url(request),
                "settings": self._dump(spectacular_settings.REDOC_UI_SETTINGS),
            },
            request,
        )
        return HttpResponse(html)


urlpatterns = [
    path("api/openapi.json", SpectacularJSONAPIView.as_view(), name="api-schema"),
    path("api/openapi.yaml", SpectacularYAMLAPIView.as_view(), name="api-schema-yaml"),
    path("api/docs/", local_only(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc/", local_only(RedocView.as_view(url_name="api-schema")), name="api-redoc"),
]
