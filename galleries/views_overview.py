"""Moved to ``galleries.views.overview`` (issue 13); kept for modules that still import it from here
(``portal/urls.py``, ``galleries/views_deploy.py``) until they are updated."""

from galleries.views.overview import OVERVIEW, overview, overview_url

__all__ = ["OVERVIEW", "overview", "overview_url"]
