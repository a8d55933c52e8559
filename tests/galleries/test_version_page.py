"""The version page and its replication panel: live while anything is in flight, stopped by the
server (286) once every region is final; other tenants get 404; the poll's cost is flat."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import create_tenant, create_user
from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_anonymous_is_sent_to_sign_in(client, make_version):
    v = make_version()
    assert client.get(f"/versions/{v.pk}/").status_code == 302
    assert client.get(f"/versions/{v.pk}/replication", **HTMX).status_code == 302


def test_another_tenant_gets_404_everywhere(client, make_version):
    v = make_version()
    other = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    client.force_login(other)
    assert client.get(f"/versions/{v.pk}/").status_code == 404
    assert client.get(f"/versions/{v.pk}/replication", **HTMX).status_code == 404
    assert client.post(f"/versions/{v.pk}/retry").status_code == 404


def test_the_panel_polls_while_in_flight_and_the_server_stops_it_when_final(client, user, make_version):
    v = make_version(target_regions=[T("westeurope", 2), T("eastus")])
    client.force_login(user)
    page = client.get(f"/versions/{v.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page and "East US" in page and "InProgress" in page
    r = client.get(f"/versions/{v.pk}/replication", **HTMX)
    assert r.status_code == 200 and 'hx-trigger="every 2s"' in r.content.decode()
    TargetRegion.objects.filter(version=v).update(state="Completed", bytes_done=100, bytes_total=100)
    r = client.get(f"/versions/{v.pk}/replication", **HTMX)
    assert r.status_code == 286  # htmx stops polling
    body = r.content.decode()
    assert "every 2s" not in body and "Completed" in body and "100%" in body
    assert "latest" in body  # both regions are now Completed: this version is latest there


def test_failed_regions_show_their_error_and_can_be_retried(client, user, make_version):
    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=v, region__name="eastus").update(
        state="Failed", attempts=5, last_error="The copy did not verify"
    )
    TargetRegion.objects.filter(version=v, region__name="westeurope").update(state="Completed")
    client.force_login(user)
    page = client.get(f"/versions/{v.pk}/").content.decode()
    assert "The copy did not verify" in page and "Retry failed regions" in page
    r = client.post(f"/versions/{v.pk}/retry", follow=True)
    assert "Retrying East US" in r.content.decode()
    states = dict(TargetRegion.objects.filter(version=v).values_list("region__name", "state"))
    assert states == {"eastus": "Unknown", "westeurope": "Completed"}


def test_the_poll_costs_the_same_queries_for_two_or_thirty_regions(client, user, make_version, subscription):
    from galleries.models import Region

    client.force_login(user)
    small = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])
    names = list(
        Region.objects.filter(cloud__name="public", restricted=False)
        .exclude(name="westeurope")
        .values_list("name", flat=True)[:29]
    )
    big = make_version("1.0.1", target_regions=[T("westeurope")] + [T(n) for n in names])
    for v in (small, big):  # the first poll of a version in a process also reads its chain (then remembered)
        client.get(f"/versions/{v.pk}/replication", **HTMX)
    with CaptureQueriesContext(connection) as q_small:
        client.get(f"/versions/{small.pk}/replication", **HTMX)
    with CaptureQueriesContext(connection) as q_big:
        client.get(f"/versions/{big.pk}/replication", **HTMX)
    assert big.target_regions.count() == 30
    assert len(q_small.captured_queries) == len(q_big.captured_queries)


def test_an_unchanged_panel_is_answered_304_and_any_change_gives_a_new_etag(client, user, make_version):
    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    client.force_login(user)
    url = f"/versions/{v.pk}/replication"
    first = client.get(url, **HTMX)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert "no-cache" in first.headers["Cache-Control"] and "private" in first.headers["Cache-Control"]

    again = client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag

    TargetRegion.objects.filter(version=v, region__name="eastus").update(
        state="Replicating", bytes_done=1, bytes_total=10
    )
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "10%" in changed.content.decode()

    TargetRegion.objects.filter(version=v).update(state="Completed")
    final = client.get(url, HTTP_IF_NONE_MATCH=changed.headers["ETag"], **HTMX)
    assert final.status_code == 286 and "ETag" not in final.headers  # the last answer is never cached


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_IF_NONE_MATCH": "{etag}"},  # what a browser revalidating sends (the view's own shortcut)
        {"HTTP_IF_NONE_MATCH": '"other", {etag}'},
        {"HTTP_IF_NONE_MATCH": "W/{etag}"},
        {"HTTP_IF_NONE_MATCH": "*"},
        {"HTTP_IF_NONE_MATCH": '"other"'},
        {"HTTP_IF_NONE_MATCH": "{etag}", "HTTP_IF_MATCH": '"other"'},  # If-Match first: 412
        {"HTTP_IF_NONE_MATCH": "{etag}", "HTTP_IF_UNMODIFIED_SINCE": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"HTTP_IF_NONE_MATCH": "{etag}", "HTTP_IF_MATCH": "{etag}"},
    ],
)
def test_revalidation_answers_as_djangos_evaluation(client, user, make_version, headers):
    """The view answers a lone, exact If-None-Match itself (no parsing); every other combination of
    preconditions gets the status Django's RFC 9110 evaluation gives for the same ETag."""
    from django.test import RequestFactory
    from django.utils.cache import get_conditional_response

    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    client.force_login(user)
    url = f"/versions/{v.pk}/replication"
    etag = client.get(url, **HTMX).headers["ETag"]
    sent = {k: value.replace("{etag}", etag) for k, value in headers.items()}
    expected = get_conditional_response(RequestFactory().get(url, **sent), etag=etag)
    answer = client.get(url, **sent, **HTMX)
    assert answer.status_code == (expected.status_code if expected is not None else 200)
    assert answer.headers["ETag"] == etag and answer.headers["Cache-Control"] == "private, no-cache"
    if answer.status_code == 304:
        assert answer.content == b""


def test_the_etag_differs_for_a_reader_who_may_not_retry(client, user, caller, make_version, subscription):
    from accounts import sharing

    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=v, region__name="eastus").update(state="Failed", last_error="x")
    reader = create_user(user.home_tenant, "rita@contoso.test", "Rita-Pass-1")
    sharing.assign_role(caller, subscription, reader, "Reader")
    url = f"/versions/{v.pk}/replication"
    client.force_login(user)
    owner_tag = client.get(url, **HTMX).headers["ETag"]
    client.force_login(reader)
    answer = client.get(url, HTTP_IF_NONE_MATCH=owner_tag, **HTMX)
    assert answer.status_code == 200 and "Retry failed regions" not in answer.content.decode()


def test_the_disks_table_shows_each_disks_host_caching(client, user, make_version, make_image):
    v = make_version(source=make_image("withdata", data_luns=(1,)), os_host_caching="ReadWrite")
    client.force_login(user)
    page = client.get(f"/versions/{v.pk}/").content.decode()
    assert "<th>Host caching</th>" in page
    assert "<td>ReadWrite</td>" in page and "<td>None</td>" in page  # the data disk: not given


def test_a_panel_is_rendered_once_per_etag_with_each_viewers_own_csrf_token(
    user, caller, make_version, subscription
):
    """Two owners polling the same unchanged panel share one rendering (``galleries.panel._RENDERED``),
    and each one's retry form carries a token that is valid for that viewer's session only."""
    import re

    from django.test import Client

    from accounts import sharing
    from galleries import panel

    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=v, region__name="eastus").update(state="Failed", last_error="x")
    colleague = create_user(user.home_tenant, "olga@contoso.test", "Olga-Pass-1")
    sharing.assign_role(caller, subscription, colleague, "Owner")
    browsers, answers = [], []
    for who in (user, colleague):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(who)
        browsers.append(browser)
        answers.append(browser.get(f"/versions/{v.pk}/replication", **HTMX))
    tokens = [
        re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', a.content.decode()).group(1) for a in answers
    ]
    etag = answers[0].headers["ETag"]
    assert answers[1].headers["ETag"] == etag and etag in panel._RENDERED
    expected = panel._RENDERED[etag].replace(panel._CSRF_SLOT, _csrf_input("TOKEN"))
    assert [a.content.decode().replace(t, "TOKEN") for a, t in zip(answers, tokens, strict=True)] == [
        expected
    ] * 2
    retry = f"/versions/{v.pk}/retry"
    assert browsers[1].post(retry, {"csrfmiddlewaretoken": tokens[0]}).status_code == 403  # not the other's
    assert browsers[1].post(retry, {"csrfmiddlewaretoken": tokens[1]}).status_code == 302
    assert TargetRegion.objects.get(version=v, region__name="eastus").state == "Unknown"


def test_a_poll_gives_the_retry_form_the_token_its_page_sent_and_no_new_cookie(user, make_version):
    """htmx sends the page's CSRF token with every poll (``X-CSRFToken``, from base.html's ``hx-headers``):
    the polled form carries that same token (no new one masked, no CSRF cookie sent again), and it
    retries; a header that is not a token is never written into the page — the form gets a token of its
    own, which retries too."""
    import re

    from django.conf import settings
    from django.test import Client

    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=v, region__name="westeurope").update(state="Replicating")
    TargetRegion.objects.filter(version=v, region__name="eastus").update(state="Failed", last_error="x")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(f"/versions/{v.pk}/").content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"(\w+)\"\}'", page).group(1)
    poll = browser.get(f"/versions/{v.pk}/replication", HTTP_X_CSRFTOKEN=token, **HTMX)
    assert poll.status_code == 200 and _csrf_input(token) in poll.content.decode()
    assert settings.CSRF_COOKIE_NAME not in poll.cookies
    for bad in ('"><script>alert(1)</script>', token[:40], token + "x"):
        answer = browser.get(f"/versions/{v.pk}/replication", HTTP_X_CSRFTOKEN=bad, **HTMX).content.decode()
        own = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', answer).group(1)
        assert bad not in answer and re.fullmatch(r"[A-Za-z0-9]{64}", own)
    assert browser.post(f"/versions/{v.pk}/retry", {"csrfmiddlewaretoken": own}).status_code == 302
    TargetRegion.objects.filter(version=v, region__name="eastus").update(state="Failed", last_error="x")
    assert browser.post(f"/versions/{v.pk}/retry", {"csrfmiddlewaretoken": token}).status_code == 302
    assert TargetRegion.objects.get(version=v, region__name="eastus").state == "Unknown"


def _csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'


def test_a_changed_panel_is_rendered_again(client, user, make_version):
    v = make_version(target_regions=[T("westeurope"), T("eastus")])
    client.force_login(user)
    url = f"/versions/{v.pk}/replication"
    TargetRegion.objects.filter(version=v).update(state="Replicating", bytes_done=1, bytes_total=10)
    assert "10%" in client.get(url, **HTMX).content.decode()
    TargetRegion.objects.filter(version=v).update(bytes_done=7)
    shown = client.get(url, **HTMX).content.decode()
    assert "70%" in shown and "10%" not in shown
    # Back to the first rows: the first HTML again.
    TargetRegion.objects.filter(version=v).update(bytes_done=1)
    assert "10%" in client.get(url, **HTMX).content.decode()
