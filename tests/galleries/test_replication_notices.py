"""The stamps' notices (``portal.core.notices``, issue 16): on PostgreSQL a process that keeps a version's
replication panel answers a browser's revalidation of it (304) without a read while its listening
connection has heard of no change to that panel's definition or to anyone's grants since the read it
keeps. Each rule is broken here: a change committed by another session, a revoked assignment, a lost
listening connection (and a change committed while it was down), a panel that is final, another ETag,
another principal, a transaction block — each is read, never answered from what is kept; a notice for
another definition is not a reason to read. The token rules themselves (``Listener``) are tested without a
database. These tests run outside the test transaction (``transactional_db``), as a request does."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from accounts.models import UserRoleAssignment
from accounts.services import create_user
from galleries import panel
from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T
from portal.core import notices
from tests.conftest import wait_for

REGIONS = ["westeurope", "eastus", "northeurope"]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- The token rules, without a database -------------------------------------------------------------------


def test_no_token_until_it_listens_and_a_notice_breaks_only_its_own_key():
    heard = notices.Listener({})  # not started: its thread's steps are called by hand
    assert heard.token() is None and not heard.quiet_since(None, "a")
    heard._listening()
    token = heard.token()
    assert token is not None and heard.quiet_since(token, "a", "b")
    heard._heard("a")
    assert not heard.quiet_since(token, "a") and heard.quiet_since(token, "b")
    later = heard.token()
    assert heard.quiet_since(later, "a", "b")  # taken after the notice: nothing since


def test_a_lost_connection_or_everything_refuses_every_earlier_token():
    heard = notices.Listener({})
    heard._listening()
    token = heard.token()
    heard._lost()
    assert heard.token() is None and not heard.quiet_since(token, "a")
    heard._listening()  # listening again: what came in between was never heard
    assert not heard.quiet_since(token, "a") and heard.quiet_since(heard.token(), "a")
    token = heard.token()
    heard._heard(notices.EVERYTHING)
    assert not heard.quiet_since(token, "a") and heard.live


def test_a_thread_that_stopped_turning_refuses_its_tokens():
    """A query that hangs or a thread that died stops the beat: what was kept is read again."""
    heard = notices.Listener({})
    heard._listening()
    token = heard.token()
    heard._beat -= notices.STALE + 1
    assert heard.token() is None and not heard.quiet_since(token, "a") and not heard.live
    heard._beat = time.monotonic()
    assert heard.quiet_since(token, "a")


def test_a_token_taken_as_the_memory_starts_again_is_older_than_every_later_notice(monkeypatch):
    """The count is never reset: a token taken between an invalidation and the next notice must not
    find that notice older than itself."""
    monkeypatch.setattr(notices, "KEYS_MAX", 2)
    heard = notices.Listener({})
    heard._listening()
    heard._heard("a")
    heard._heard("b")
    heard._heard("c")  # the memory is full: everything invalidated
    token = heard.token()
    heard._heard("a")
    assert not heard.quiet_since(token, "a")


# --- PostgreSQL ------------------------------------------------------------------------------------------


@pytest.fixture
def listening(settings, region):
    if connection.vendor != "postgresql":
        pytest.skip(
            "LISTEN/NOTIFY is PostgreSQL's; on SQLite a poll reads the stamps (test_replication_stamp.py)"
        )
    settings.STAMP_NOTICES = True
    notices.stop()
    panel._KEPT.clear()
    found = notices.listener()
    assert found is not None and found.wait_live(10), "the listener did not start listening"
    yield found
    notices.stop()
    panel._KEPT.clear()


@pytest.fixture
def versions(listening, make_version, make_definition):
    """A version in flight in three regions, and a version of another definition."""
    new = make_version("1.1.0", target_regions=[T(r) for r in REGIONS])
    TargetRegion.objects.filter(version=new).update(state="Replicating", revision=1, done_revision=0)
    other = make_version("2.0.0", target_regions=[T("westeurope")], definition_=make_definition("other"))
    return new, other


def statements(client, version, **headers) -> tuple[object, list[str]]:
    """One poll's answer and the statements it ran after the session's and the user's."""
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get(f"/versions/{version.pk}/replication", HTTP_HX_REQUEST="true", **headers)
    read = [q["sql"] for q in ctx.captured_queries]
    return answer, [
        sql for sql in read if "django_session" not in sql and '"accounts_user"."password"' not in sql
    ]


def kept_and_etag(client, version) -> str:
    """Poll until the panel is kept under a token (the first read after the listener listens)."""
    first, _ = statements(client, version)
    assert first.status_code == 200
    wait_for(lambda: panel._KEPT.get(version.pk) and panel._KEPT[version.pk].quiet, 5, "a kept panel's token")
    return first["ETag"]


@pytest.fixture
def kept(client, user, versions) -> tuple:
    """``versions`` with the first one's panel polled by ``user`` and kept under a token: (it, the other
    version, its ETag)."""
    new, other = versions
    client.force_login(user)
    return new, other, kept_and_etag(client, new)


def after_notice(listener, change) -> None:
    """Run ``change`` (which commits) and wait until the listener has heard its notice."""
    before = listener.heard
    change()
    wait_for(lambda: listener.heard > before, 10, "the change's notice")


def another_session(sql: str, params: list) -> None:
    """``sql`` committed by a session of its own, as another process would."""
    params_ = {
        k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")
    }
    with psycopg.connect(**params_, autocommit=True) as other:
        other.execute(sql, params)


def test_an_unchanged_panel_is_revalidated_without_a_read_and_a_body_is_always_read(client, kept):
    new, _, etag = kept
    for _ in range(3):
        answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
        assert answer.status_code == 304 and answer["ETag"] == etag and read == []
    answer, read = statements(client, new)  # no validator: the answer has a body, read as before
    assert answer.status_code == 200 and answer["ETag"] == etag and len(read) == 1


def test_a_change_committed_by_another_session_is_read_by_the_next_revalidation(client, kept):
    new, _, etag = kept
    target = TargetRegion.objects.filter(version=new, region__name="eastus").get()
    after_notice(
        notices.listener(),
        lambda: another_session(
            "UPDATE galleries_targetregion SET bytes_done = 3, bytes_total = 8 WHERE id = %s", [target.pk]
        ),
    )
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200 and answer["ETag"] != etag and read
    assert "37% · 3 bytes of 8 bytes" in answer.content.decode()


def test_a_notice_for_another_definition_reads_nothing(client, kept):
    new, other, etag = kept
    after_notice(
        notices.listener(),
        lambda: TargetRegion.objects.filter(version=other).update(bytes_done=F("bytes_done") + 1),
    )
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 304 and read == []


def test_a_revoked_assignment_is_heard_and_the_next_revalidation_is_not_found(client, user, kept):
    new, _, etag = kept
    after_notice(notices.listener(), lambda: UserRoleAssignment.objects.filter(user=user).delete())
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 404 and read


def test_another_principal_the_wrong_etag_a_final_panel_and_a_block_are_read(client, user, tenant, kept):
    new, _, etag = kept
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH='"another"')
    assert answer.status_code == 200 and read
    # Someone who may not read it: its kept rows answer nothing, the read says 404.
    stranger = create_user(tenant, "mallory@contoso.test", "Mallory-Test-Pass-1", "Mallory")
    client.force_login(stranger)
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 404
    client.force_login(user)
    with transaction.atomic():  # a block reads what it wrote: nothing kept is used
        with CaptureQueriesContext(connection) as ctx:
            assert panel.load(user, new.pk, revalidating=etag).etag == etag
        assert any("galleries_targetregion" in q["sql"] for q in ctx.captured_queries)
    # Final: every region Completed. The answer to a browser's htmx poll is 286 with the table: read.
    after_notice(
        notices.listener(),
        lambda: TargetRegion.objects.filter(version=new).update(
            state="Completed", bytes_done=F("bytes_total"), done_revision=F("revision")
        ),
    )
    final = panel.load(user, new.pk)  # read and kept under a token
    assert not final.in_flight and panel._KEPT[new.pk].quiet
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=final.etag)
    assert answer.status_code == 286 and read


def test_a_lost_listening_connection_reads_again_and_a_change_made_meanwhile_is_seen(
    client, kept, monkeypatch
):
    new, _, etag = kept
    listener = notices.listener()
    monkeypatch.setattr(notices, "PAUSES", (2.0, 2.0))  # down long enough to commit a change meanwhile
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sig-stamp-notices' "
            "AND datname = current_database()"
        )
    wait_for(lambda: not listener.live, 10, "the listener to see its connection lost")
    # While nothing listens, and after it listens again, what was kept before is not trusted: a change
    # committed in between (no notice heard) is read.
    target = TargetRegion.objects.filter(version=new, region__name="eastus").get()
    TargetRegion.objects.filter(pk=target.pk).update(bytes_done=2, bytes_total=8)
    assert listener.wait_live(15), "the listener did not listen again"
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200 and read and "25% · 2 bytes of 8 bytes" in answer.content.decode()
    # Once read again under the new connection's token, a revalidation reads nothing again.
    etag = kept_and_etag(client, new)
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 304 and read == []


def test_sqlite_has_no_listener_and_its_revalidation_reads_the_stamps(settings, client, user, make_version):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's rule; PostgreSQL's listener is tested above")
    settings.STAMP_NOTICES = True
    assert notices.listener() is None and notices.token() is None
    new = make_version("1.1.0", target_regions=[T(r) for r in REGIONS])
    TargetRegion.objects.filter(version=new).update(state="Replicating", revision=1, done_revision=0)
    panel._KEPT.clear()
    client.force_login(user)
    etag = statements(client, new)[0]["ETag"]
    answer, read = statements(client, new, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 304 and len(read) == 1 and "galleries_replicationstamp" in read[0]


def test_a_listener_whose_thread_died_is_replaced(listening):
    listening.stop()  # its thread ends; the process still holds it
    assert not listening.running and listening.token() is None
    again = notices.listener()
    assert again is not listening and again.wait_live(10)
    assert notices.listener() is again
