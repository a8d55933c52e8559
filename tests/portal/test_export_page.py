"""The "Export template" page of a resource group (issue 15): the command on the group's page, the template
the API answers (one function, two edges) with the options as checkboxes, and its download."""

from __future__ import annotations

import html
import json

from accounts import tokens
from accounts.services import create_user
from accounts.sharing import grant_as_system


def api_template(client, user, subscription, options: str) -> dict:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}
    r = client.post(
        f"/subscriptions/{subscription.guid}/resourcegroups/images/exportTemplate?api-version=2019-05-10",
        json.dumps({"resources": ["*"], "options": options}),
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 200, r.content
    return r.json()["template"]


def shown(page) -> dict:
    text = page.content.decode()
    start = text.index('id="template-json"')
    body = text[text.index(">", start) + 1 : text.index("</pre>", start)]
    return json.loads(html.unescape(body))


def test_the_page_shows_and_downloads_what_the_api_exports(
    client, user, subscription, rg, make_version, gallery
):
    make_version()
    client.force_login(user)
    overview = client.get(f"/resource-groups/{rg.pk}/").content.decode()
    assert f'href="/resource-groups/{rg.pk}/export/" id="export-template"' in overview
    page = client.get(f"/resource-groups/{rg.pk}/export/")
    assert page.status_code == 200
    assert shown(page) == api_template(client, user, subscription, "")
    text = page.content.decode()
    assert f'href="/resource-groups/{rg.pk}/export/template.json" id="download-template"' in text
    assert 'name="options" value="IncludeParameterDefaultValue"' in text and "checked" not in text

    page = client.get(
        f"/resource-groups/{rg.pk}/export/?options=IncludeComments&options=SkipAllParameterization"
    )
    template = shown(page)
    assert template == api_template(client, user, subscription, "IncludeComments,SkipAllParameterization")
    assert template["parameters"] == {} and template["resources"][0]["comments"].startswith("Generalized")
    download_url = f"/resource-groups/{rg.pk}/export/template.json?options=IncludeComments&options=SkipAllParameterization"
    assert html.escape(download_url) in page.content.decode()
    download = client.get(download_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/json; charset=utf-8"
    assert download["Content-Disposition"] == 'attachment; filename="images-template.json"'
    assert json.loads(download.content) == template


def test_the_page_answers_as_the_groups_page(client, user, subscription, rg, gallery, image):
    """A reader of the group exports what it reads; someone who may read only a gallery inside gets the
    group page's answer (404) — through the API the same person gets that gallery alone."""
    gina = create_user(user.home_tenant, "gina@contoso.test", "Gina-Pass-12", "Gina")
    grant_as_system(rg, gina, "reader")
    client.force_login(gina)
    assert {r["type"] for r in shown(client.get(f"/resource-groups/{rg.pk}/export/"))["resources"]} == {
        "Microsoft.Compute/galleries",
        "Microsoft.Compute/images",
    }
    hal = create_user(user.home_tenant, "hal@contoso.test", "Hal-Pass-123", "Hal")
    grant_as_system(gallery, hal, "reader")
    client.force_login(hal)
    assert client.get(f"/resource-groups/{rg.pk}/").status_code == 404
    assert client.get(f"/resource-groups/{rg.pk}/export/").status_code == 404
    template = api_template(client, hal, subscription, "")
    assert [r["type"] for r in template["resources"]] == ["Microsoft.Compute/galleries"]


def test_an_unknown_option_is_refused_by_name(client, user, rg):
    client.force_login(user)
    for url in (f"/resource-groups/{rg.pk}/export/", f"/resource-groups/{rg.pk}/export/template.json"):
        r = client.get(url + "?options=Everything")
        assert r.status_code == 400
        assert "'Everything' is not an export option" in r.content.decode()
