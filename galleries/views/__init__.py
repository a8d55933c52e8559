"""The galleries' pages (issue 13): resource pages on the generic views of ``portal.core.generic``
(``resources``, ``versions``), the upload and replication endpoints (``uploads``) and the Overview
redirect of any resource (``overview``). ``galleries/urls.py`` routes them."""
