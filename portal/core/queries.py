"""Per-row numbers of a list as subqueries: sortable, and one query whatever the number of rows."""

from __future__ import annotations

from django.db.models import Aggregate, Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce


def per_row(rows: QuerySet, column: str, total: Aggregate | None = None) -> Coalesce:
    """For each outer row: ``total`` (by default the count) of the ``rows`` whose ``column`` points at
    it, 0 when there are none."""
    numbers = (
        rows.filter(**{column: OuterRef("pk")})
        .order_by()
        .values(column)
        .annotate(n=total if total is not None else Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(numbers, output_field=IntegerField()), 0)
