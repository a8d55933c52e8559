"""The portal's template pages (issue 15): "Deploy a custom template" on a resource group (step 1 the
template, step 2 a form generated from its parameters; Validate, What-if, Deploy through
``galleries.api.deploying``), the group's deployment history and a deployment's page, and "Export
template" on a gallery's page."""

from __future__ import annotations

import html
import json
from pathlib import Path

from conftest import wait_for
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries.models import Gallery, TemplateDeployment
from portal.template_forms import ParametersForm

TEMPLATES = Path(__file__).resolve().parent.parent / "fixtures" / "templates"
SIG_CREATE = (TEMPLATES / "sig-create" / "azuredeploy.json").read_text()
SIG_PARAMETERS = (TEMPLATES / "sig-create" / "azuredeploy.parameters.json").read_text()

TYPED = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "sku": {"type": "string", "allowedValues": ["Basic", "Premium"], "defaultValue": "Basic"},
        "count": {"type": "int", "minValue": 1, "maxValue": 5, "defaultValue": 2},
        "secret": {"type": "securestring", "metadata": {"description": "A password."}},
        "enabled": {"type": "bool", "defaultValue": True},
        "settings": {"type": "object", "defaultValue": {"a": 1}},
        "where": {"type": "string", "defaultValue": "[resourceGroup().location]"},
    },
    "resources": [],
}


def text(response) -> str:
    return response.content.decode()


def step2(client, rg, template: str, parameters: str = ""):
    r = client.post(
        f"/resource-groups/{rg.pk}/deploy/",
        {"step": "source", "template": template, "parameters": parameters},
    )
    assert r.status_code == 200, text(r)[:2000]
    return r


def post_parameters(client, rg, template: dict | str, action: str = "deploy", name: str = "d1", **values):
    data = {
        "step": "parameters",
        "action": action,
        "template": template if isinstance(template, str) else json.dumps(template),
        "deployment_name": name,
        "mode": "Incremental",
    }
    data.update({f"p_{k}": v for k, v in values.items()})
    return client.post(f"/resource-groups/{rg.pk}/deploy/", data)


def test_the_group_page_offers_deploy_and_history(client, user, rg):
    client.force_login(user)
    page = text(client.get(f"/resource-groups/{rg.pk}/"))
    assert f'href="/resource-groups/{rg.pk}/deploy/" id="deploy-template">Deploy a custom template' in page
    assert f'href="/resource-groups/{rg.pk}/deployments/" id="deployments"' in page
    assert f'href="/resource-groups/{rg.pk}/export/" id="export-template"' in page


def test_deploy_sig_create_through_the_page(client, user, rg):
    client.force_login(user)
    r = step2(client, rg, SIG_CREATE, SIG_PARAMETERS)
    page = text(r)
    assert 'name="deployment_name"' in page and "Microsoft.Template-" in page
    assert 'value="GEN-UNIQUE"' in page  # the parameters file fills the form
    assert "Name of the Shared Image Gallery." in page  # metadata.description
    assert "Default: [resourceGroup().location]" in page  # an expression default, left to the engine

    r = post_parameters(client, rg, SIG_CREATE, "validate", galleryName="galPortal")
    assert r.status_code == 200 and "Validation passed" in text(r)
    assert "/providers/Microsoft.Compute/galleries/galPortal" in text(r)
    assert not Gallery.objects.filter(name="galPortal").exists()

    r = post_parameters(client, rg, SIG_CREATE, "deploy", name="first", galleryName="galPortal")
    assert r.status_code == 302 and r["Location"] == f"/resource-groups/{rg.pk}/deployments/first/"
    gallery = Gallery.objects.get(name="galPortal")
    assert gallery.location.name == "westeurope"  # the default, evaluated by the engine
    d = TemplateDeployment.objects.get(name="first")
    assert d.state == "Succeeded" and d.principal == user

    detail = client.get(r["Location"])
    assert detail.status_code == 200
    page = text(detail)
    assert (
        'id="deployment-state">Succeeded' in page
        and "galPortal" in page
        and "Microsoft.Compute/galleries" in page
    )
    assert 'hx-trigger="every 2s"' not in page  # final: nothing to poll
    poll = client.get(r["Location"], HTTP_HX_REQUEST="true")
    assert poll.status_code == 286 and 'id="deployment-status"' in text(poll)

    history = text(client.get(f"/resource-groups/{rg.pk}/deployments/"))
    assert f'href="/resource-groups/{rg.pk}/deployments/first/">first</a>' in history
    assert "Succeeded" in history and user.username in history


def test_a_running_deployment_polls_and_advances(client, user, rg):
    client.force_login(user)
    TemplateDeployment.objects.create(
        name="slow",
        subscription=rg.subscription,
        resource_group=rg,
        principal=user,
        state="Running",
        template={},
    )
    page = text(client.get(f"/resource-groups/{rg.pk}/deployments/slow/"))
    # each refresh advances first: without its sealed values the deployment fails with the reason
    assert 'id="deployment-state">Failed' in page and "SECRET_KEY" in page
    assert client.get(f"/resource-groups/{rg.pk}/deployments/nosuch/").status_code == 404


def test_the_page_follows_a_version_deployment_until_it_replicated(
    client, user, rg, definition, image, celery_processes
):
    """An image version waits for its replication: the page polls (every 2 s) while the deployment is
    Running, each poll advancing it; a real worker replicates, and the poll that sees it Succeeded
    answers 286 (htmx stops) without a trigger."""
    client.force_login(user)
    tpl = json.loads((TEMPLATES / "sig-image-version-create" / "azuredeploy.json").read_text())
    # the quickstart's hostCaching ReadWrite is refused here (docs/templates.md): the page would show
    # the operation Failed with that message; None deploys
    tpl["resources"][0]["properties"]["storageProfile"]["osDiskImage"]["hostCaching"] = "None"
    r = post_parameters(
        client,
        rg,
        tpl,
        name="v1",
        existingManagedImageID=image.arm_id,
        existingGalleryName="Gallery1",
        existingGalleryImageDefinitionName=definition.name,
        galleryImageVersionName="1.0.0",
    )
    assert r.status_code == 302, text(r)[:3000]
    url = r["Location"]
    page = text(client.get(url))
    assert 'id="deployment-state">Running' in page and 'hx-trigger="every 2s"' in page
    assert "Microsoft.Compute/galleries/images/versions" in page

    celery_processes.worker(regions=["westeurope"])
    answers = []

    def polled_to_the_end():
        answers.append(client.get(url, HTTP_HX_REQUEST="true"))
        return answers[-1].status_code == 286

    wait_for(polled_to_the_end, timeout=90, interval=0.5, what="the deployment to succeed")
    assert {a.status_code for a in answers[:-1]} <= {200}
    last = text(answers[-1])
    assert 'id="deployment-state">Succeeded' in last and "hx-trigger" not in last
    assert TemplateDeployment.objects.get(name="v1").state == "Succeeded"


def test_a_failed_operation_shows_its_message(client, user, rg, gallery):
    """A definition the service refuses (an unknown osType): the page shows the deployment Failed and the
    operation's message, naming the property."""
    client.force_login(user)
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Compute/galleries/images",
                "apiVersion": "2022-03-03",
                "name": "Gallery1/bad",
                "location": "[resourceGroup().location]",
                "properties": {
                    "osType": "Plan9",
                    "osState": "Generalized",
                    "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
                },
            }
        ],
    }
    r = post_parameters(client, rg, tpl, name="bad")
    assert r.status_code == 302
    page = html.unescape(text(client.get(r["Location"])))
    assert 'id="deployment-state">Failed' in page and "DeploymentFailed" in page
    operations = page[page.index('id="deployment-operations"') :]
    assert "Gallery1/bad" in operations and ">Failed<" in operations
    assert "Plan9" in operations, operations[:3000]


def test_upload_a_template_file(client, user, rg):
    client.force_login(user)
    r = client.post(
        f"/resource-groups/{rg.pk}/deploy/",
        {
            "step": "source",
            "template_file": SimpleUploadedFile("t.json", SIG_CREATE.encode()),
            "parameters_file": SimpleUploadedFile("p.json", SIG_PARAMETERS.encode()),
        },
    )
    assert r.status_code == 200 and 'value="GEN-UNIQUE"' in text(r)


def test_bad_json_is_shown_naming_the_problem(client, user, rg):
    client.force_login(user)
    r = client.post(f"/resource-groups/{rg.pk}/deploy/", {"step": "source", "template": '{"parameters": '})
    assert r.status_code == 400
    assert 'id="template-error"' in text(r) and "not valid JSON" in text(r) and "line 1" in text(r)
    r = client.post(
        f"/resource-groups/{rg.pk}/deploy/", {"step": "source", "template": SIG_CREATE, "parameters": "[1"}
    )
    assert r.status_code == 400 and 'id="parameters-error"' in text(r)
    r = client.post(f"/resource-groups/{rg.pk}/deploy/", {"step": "source", "template": "[]"})
    assert r.status_code == 400 and "must be a JSON object" in text(r)
    r = post_parameters(client, rg, "{nope", galleryName="g")  # a forged step 2
    assert r.status_code == 400 and "not valid JSON" in text(r)


def test_deeply_nested_json_is_a_form_error_not_a_500(client, user, rg):
    """The pages read JSON through the kernel's one reader: a template, a forged step 2 or an object
    parameter nested deeper than it allows is a 400 naming the depth, never a RecursionError."""
    client.force_login(user)
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(f"/resource-groups/{rg.pk}/deploy/", {"step": "source", "template": deep})
    assert r.status_code == 400 and 'id="template-error"' in text(r) and "deep" in text(r)
    r = post_parameters(client, rg, deep)
    assert r.status_code == 400 and "deep" in text(r)
    typed = {**TYPED, "parameters": {"config": {"type": "object"}}, "resources": []}
    r = post_parameters(client, rg, typed, config='{"a":' * 50_000 + "1" + "}" * 50_000)
    assert r.status_code == 400 and 'id="p_config-error"' in text(r), text(r)[:3000]
    assert not TemplateDeployment.objects.exists()


def test_a_missing_required_parameter_is_the_fields_error(client, user, rg):
    client.force_login(user)
    r = post_parameters(client, rg, SIG_CREATE)
    assert r.status_code == 400 and 'id="p_galleryName-error"' in text(r)
    assert not TemplateDeployment.objects.exists()


def test_the_engines_refusal_lands_on_the_parameter(client, user, rg):
    """A value outside allowedValues is the field's error; a default the engine cannot evaluate is
    the engine's InvalidTemplate, on that parameter's field."""
    client.force_login(user)
    tpl_forged = json.loads(SIG_CREATE)
    tpl_forged["parameters"]["galleryName"]["allowedValues"] = ["only"]
    r = post_parameters(client, rg, tpl_forged, galleryName="other")
    assert r.status_code == 400
    assert 'id="p_galleryName-error"' in text(r)  # the form's choice check
    tpl_bad = json.loads(SIG_CREATE)
    tpl_bad["parameters"]["galleryName"]["defaultValue"] = "[nosuch()]"
    r = post_parameters(client, rg, tpl_bad, "validate")
    assert r.status_code == 400 and 'id="p_galleryName-error"' in text(r)
    assert "InvalidTemplate" not in text(r) and "Deployment template validation failed" in text(r)


def test_invalid_template_is_shown_at_the_top(client, user, rg):
    client.force_login(user)
    tpl = json.loads(SIG_CREATE)
    tpl["resources"].append({**tpl["resources"][0], "name": "[nosuch('x')]"})
    r = post_parameters(client, rg, tpl, galleryName="g")
    assert r.status_code == 400
    page = html.unescape(text(r))
    assert 'id="form-error"' in page and "InvalidTemplate: Deployment template validation failed" in page
    assert 'value="g"' in page  # what was entered is kept
    assert not Gallery.objects.exists() and not TemplateDeployment.objects.exists()


def test_a_bad_deployment_name_is_refused_by_name(client, user, rg):
    client.force_login(user)
    r = post_parameters(client, rg, SIG_CREATE, name="bad/name", galleryName="g")
    assert r.status_code == 400 and 'id="deployment_name-error"' in text(r)


def test_the_generated_form_types(client, user, rg):
    form = ParametersForm(template=TYPED)
    sku, count, secret = form.fields["p_sku"], form.fields["p_count"], form.fields["p_secret"]
    assert [c[0] for c in sku.choices] == ["", "Basic", "Premium"] and sku.initial == "Basic"
    assert count.min_value == 1 and count.max_value == 5 and count.initial == 2
    assert secret.widget.input_type == "password" and secret.required and secret.help_text == "A password."
    assert (
        form.fields["p_enabled"].widget.input_type == "checkbox" and form.fields["p_enabled"].initial is True
    )
    assert json.loads(form.fields["p_settings"].initial) == {"a": 1}
    assert not form.fields["p_where"].required and form.fields["p_where"].initial is None

    client.force_login(user)
    r = post_parameters(client, rg, TYPED, "validate", count="9", secret="x", sku="Gold", settings="[1]")
    assert r.status_code == 400
    page = text(r)
    assert 'id="p_count-error"' in page and "less than or equal to 5" in page
    assert 'id="p_sku-error"' in page and 'id="p_settings-error"' in page

    bound = ParametersForm(
        {
            "deployment_name": "x",
            "mode": "Incremental",
            "template": "{}",
            "p_count": "3",
            "p_secret": "s",
            "p_sku": "Premium",
            "p_settings": '{"b": [1]}',
        },
        template=TYPED,
    )
    assert bound.is_valid(), bound.errors
    assert bound.body()["properties"]["parameters"] == {
        "sku": {"value": "Premium"},
        "count": {"value": 3},
        "secret": {"value": "s"},
        "enabled": {"value": False},
        "settings": {"value": {"b": [1]}},
    }
    r = post_parameters(client, rg, TYPED, "validate", count="3", secret="s", enabled="on")
    assert r.status_code == 200 and "Validation passed" in text(r)
    page = text(step2(client, rg, json.dumps(TYPED)))
    assert 'type="password"' in page and '<option value="Premium">' in page and 'type="number"' in page


def test_who_may_deploy_and_read(client, user, subscription, rg):
    reader = create_user(user.home_tenant, "rita@contoso.test", "Rita-Pass-123", "Rita")
    grant_as_system(rg, reader, "reader")
    TemplateDeployment.objects.create(
        name="d0", subscription=subscription, resource_group=rg, principal=user, state="Succeeded"
    )
    client.force_login(reader)
    assert client.get(f"/resource-groups/{rg.pk}/deploy/").status_code == 403
    assert post_parameters(client, rg, SIG_CREATE, galleryName="g").status_code == 403
    assert client.get(f"/resource-groups/{rg.pk}/deployments/").status_code == 200
    assert client.get(f"/resource-groups/{rg.pk}/deployments/d0/").status_code == 200
    assert 'id="deploy-template"' not in text(client.get(f"/resource-groups/{rg.pk}/"))
    outsider = create_user(user.home_tenant, "olly@contoso.test", "Olly-Pass-123", "Olly")
    client.force_login(outsider)
    for url in ("deploy/", "deployments/", "deployments/d0/"):
        assert client.get(f"/resource-groups/{rg.pk}/{url}").status_code == 404
    assert not Gallery.objects.exists()


def test_what_if_renders_the_changes(client, user, rg, gallery):
    """The real what-if (galleries.api.whatif) on the page: the existing gallery with another description is
    a Modify with its delta row (before struck, after inserted), a new one a Create; nothing is deployed."""
    client.force_login(user)
    tpl = json.loads(SIG_CREATE)
    tpl["resources"][0]["properties"]["description"] = "changed"
    extra = json.loads(json.dumps(tpl["resources"][0]))
    extra["name"] = "[concat(parameters('galleryName'), 'New')]"
    tpl["resources"].append(extra)
    r = post_parameters(client, rg, tpl, "whatif", galleryName="Gallery1")
    assert r.status_code == 200, text(r)[:2000]
    page = text(r)
    assert 'id="whatif"' in page
    assert '<span class="tag change-create">Create</span>' in page
    assert '<span class="tag change-modify">Modify</span>' in page
    assert "<td><code>properties.description</code></td><td>Modify</td>" in page
    assert "<ins>changed</ins>" in page
    assert not Gallery.objects.filter(name="Gallery1New").exists()
    assert Gallery.objects.get(name="Gallery1").description != "changed"


def test_gallery_export(client, user, gallery, make_version):
    make_version()
    client.force_login(user)
    page = text(client.get(f"/galleries/{gallery.pk}/"))
    assert f'href="/galleries/{gallery.pk}/export/" id="export-template"' in page
    r = client.get(f"/galleries/{gallery.pk}/export/")
    assert r.status_code == 200
    body = text(r)
    start = body.index('id="template-json"')
    template = json.loads(html.unescape(body[body.index(">", start) + 1 : body.index("</pre>", start)]))
    assert [res["type"] for res in template["resources"]] == [
        "Microsoft.Compute/galleries",
        "Microsoft.Compute/galleries/images",
        "Microsoft.Compute/galleries/images/versions",
    ]
    download = client.get(f"/galleries/{gallery.pk}/export/template.json")
    assert download["Content-Disposition"] == 'attachment; filename="Gallery1-template.json"'
    assert json.loads(download.content) == template
