"""F15 under concurrency: 20 simultaneous creations one below a limit create exactly one, and the
check costs the same number of queries whatever the count (it never counts rows)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.models import Subscription
from galleries import services
from galleries.models import Gallery, GalleryImage, GalleryImageVersion, UsageCounter
from portal.core.errors import ServiceError

WORKERS = 20


def _race(fn, n=WORKERS):
    """Run ``fn(i)`` in ``n`` threads released together; return (results, errors)."""
    barrier = threading.Barrier(n)
    results, errors = [], []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait(timeout=30)
            out = fn(i)
            with lock:
                results.append(out)
        except ServiceError as err:
            with lock:
                errors.append(err)
        except Exception as exc:  # noqa: BLE001 - surfaced below as a failure
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a creation hung"
    return results, errors


def _limit(subscription, kind, value):
    Subscription.objects.filter(pk=subscription.pk).update(**{f"limit_{kind}": value})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_galleries_one_below_the_limit_create_exactly_one(caller, subscription, rg):
    for i in range(4):
        services.create_gallery(caller, rg, f"Existing{i}")
    _limit(subscription, "galleries", 5)

    results, errors = _race(lambda i: services.create_gallery(caller, rg, f"Racer{i}"))

    assert len(results) == 1
    assert len(errors) == WORKERS - 1
    assert all(isinstance(e, ServiceError) and e.code == "QuotaExceeded" for e in errors), errors
    assert Gallery.objects.filter(subscription=subscription, location__name="westeurope").count() == 5
    counter = UsageCounter.objects.get(subscription=subscription, region__name="westeurope", kind="galleries")
    assert counter.count == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_definitions_and_versions_respect_their_limits(
    caller, subscription, gallery, image
):
    _limit(subscription, "definitions", 1)
    results, errors = _race(
        lambda i: services.create_definition(
            caller,
            gallery,
            f"def{i}",
            publisher="P",
            offer="O",
            sku=f"S{i}",
            os_type="Linux",
            os_state="Generalized",
        )
    )
    assert len(results) == 1 and len(errors) == WORKERS - 1
    assert {e.code for e in errors} == {"QuotaExceeded"}
    definition = results[0]

    _limit(subscription, "versions", 3)
    services.create_version(caller, definition, "0.0.1", location="westeurope", source=image)
    services.create_version(caller, definition, "0.0.2", location="westeurope", source=image)
    results, errors = _race(
        lambda i: services.create_version(caller, definition, f"1.0.{i}", location="westeurope", source=image)
    )
    assert len(results) == 1 and {e.code for e in errors} == {"QuotaExceeded"}
    assert GalleryImageVersion.objects.filter(definition=definition).count() == 3
    assert GalleryImage.objects.filter(gallery=gallery).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_with_the_same_name_give_one_gallery_and_conflicts(caller, subscription, rg):
    results, errors = _race(lambda i: services.create_gallery(caller, rg, "SameName"), n=8)
    assert len(results) == 1
    assert {e.code for e in errors} == {"Conflict"}, errors
    counter = UsageCounter.objects.get(subscription=subscription, region__name="westeurope", kind="galleries")
    assert counter.count == 1  # refused creations gave their reservation back


def test_limit_check_costs_the_same_queries_at_any_count(
    caller, subscription, rg, django_assert_max_num_queries
):
    """The limit is enforced on a counter row, so its cost does not grow with the number of galleries."""
    from django.test.utils import CaptureQueriesContext

    services.create_gallery(caller, rg, "First")
    with CaptureQueriesContext(connection) as small:
        services.create_gallery(caller, rg, "Second")
    UsageCounter.objects.filter(subscription=subscription, kind="galleries").update(count=50)
    _limit(subscription, "galleries", 100_000)
    with CaptureQueriesContext(connection) as large:
        services.create_gallery(caller, rg, "Third")
    assert len(small.captured_queries) == len(large.captured_queries)
    assert not any(
        "COUNT(" in q["sql"].upper() and "galleries_gallery" in q["sql"] for q in large.captured_queries
    )
