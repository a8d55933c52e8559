"""Ids in URLs and forms that no row can have — 20 digits overflow SQLite's integer, "²" is a digit to
``str.isdigit`` — answer 404 or are ignored, never 500 (issue 12's rule, on the pages issue 13 added)."""

import pytest

from accounts.models import User

HUGE = "9" * 20
PATHS = [
    f"/galleries/{HUGE}/",
    f"/definitions/{HUGE}/",
    f"/versions/{HUGE}/",
    f"/versions/{HUGE}/replication",
    f"/images/{HUGE}/",
    f"/snapshots/{HUGE}/",
    f"/deployments/{HUGE}/",
    f"/subscriptions/{HUGE}/",
    f"/resource-groups/{HUGE}/",
    f"/resources/{HUGE}/",
    f"/resources/{HUGE}/access/",
    f"/resources/{HUGE}/activity/",
]


@pytest.fixture
def signed_in(client, db):
    user = User.objects.create_user(username="huge@ids.test", password="Huge-ids-2026")
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PATHS)
def test_an_id_no_row_can_have_answers_404(signed_in, path):
    assert signed_in.get(path).status_code == 404


@pytest.mark.parametrize("value", [HUGE, "²", "-1", "abc"])
def test_bulk_delete_ignores_ids_no_row_can_have(signed_in, value):
    response = signed_in.post("/galleries/bulk-delete", {"pk": [value]})
    assert response.status_code in (400, 404), response.status_code
