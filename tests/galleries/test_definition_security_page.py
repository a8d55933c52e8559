"""The definition pages' security type (issue 14): the create form offers Standard / Trusted launch
supported / Trusted launch and, left as it is, chooses as Azure's portal does (Trusted launch supported
for a V2 definition, Standard for V1); the overview and the edit page show it; the service's refusals
show next to the field."""

from __future__ import annotations

import pytest

from galleries.models import GalleryImage
from tests.galleries.test_resource_pages import DEFINITION, error_of, text

TLS = [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def post(signed_in, gallery):
    return lambda **form: signed_in.post(f"/galleries/{gallery.pk}/definitions/new", {**DEFINITION, **form})


def test_the_form_offers_the_security_types(signed_in, gallery):
    page = text(signed_in.get(f"/galleries/{gallery.pk}/definitions/new"))
    assert 'name="security_type"' in page
    for label in ("Standard", "Trusted launch supported", "Trusted launch", "As the generation suggests"):
        assert f">{label}" in page


@pytest.mark.parametrize(
    "generation, security, features",
    [
        ("V2", None, TLS),  # the form's own default: as Azure's portal for V2
        ("V2", "by-generation", TLS),
        ("V1", "by-generation", []),
        ("V2", "Standard", []),
        ("V1", "Standard", []),
        ("V2", "TrustedLaunch", [{"name": "SecurityType", "value": "TrustedLaunch"}]),
    ],
)
def test_the_chosen_security_type_is_stored(post, generation, security, features):
    form = {"hyper_v_generation": generation}
    if security is not None:
        form["security_type"] = security
    r = post(**form)
    assert r.status_code == 302, r.content[:400]
    assert GalleryImage.objects.get(name="web").features == features


def test_trusted_launch_on_generation_1_is_refused_next_to_the_generation(post):
    r = post(hyper_v_generation="V1", security_type="TrustedLaunch")
    assert r.status_code == 400 and "must be Hyper-V generation V2" in error_of(text(r), "hyper_v_generation")
    assert not GalleryImage.objects.filter(name="web").exists()


def test_a_forged_security_type_gets_the_services_message_next_to_the_field(post):
    r = post(security_type="ConfidentialVM")
    assert r.status_code == 400 and "not supported yet" in error_of(text(r), "security_type")
    assert not GalleryImage.objects.filter(name="web").exists()


def test_overview_and_edit_page_show_the_security_type(signed_in, make_definition):
    tl = make_definition("tl", hyper_v_generation="V2", features=TLS)
    plain = make_definition("plain")
    assert '<dd id="security-type">Trusted launch supported</dd>' in text(
        signed_in.get(f"/definitions/{tl.pk}/")
    )
    assert '<dd id="security-type">Standard</dd>' in text(signed_in.get(f"/definitions/{plain.pk}/"))
    edit = text(signed_in.get(f"/definitions/{tl.pk}/edit"))
    assert 'id="ro-security_type">Trusted launch supported' in edit and 'name="security_type"' not in edit
