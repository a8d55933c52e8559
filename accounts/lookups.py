"""``field__in_ids=[1, 2, 3]``: an IN list of integers written into the SQL as literals.

The access filter's IN lists can hold a thousand ids; as bind parameters Django compiles and the
driver binds each one (several milliseconds per query, measured in bench/access.py). The values are
forced through ``int()``, so nothing but digits reaches the SQL.

On PostgreSQL the list is one ``bigint[]`` constant, ``= ANY('{1,2,3}'::bigint[])``: an ``IN (1, 2, 3)``
list is typed ``integer`` against the ``bigint`` id columns, and the cross-type test is neither hashed
nor cheap to estimate — at 100,000 resources and a thousand assignments the All Resources count ran
in 2.0 ms and planned in 2.0 ms with ``IN``, 0.8 and 0.8 ms with the array (docs/benchmarks.md,
"Issue 16: the readable set").
"""

from django.db.models import Field, ForeignObject, Lookup


class Ids:
    """Integer ids for ``in_ids``, checked by ``int()`` once and written as SQL once. Neither a list nor
    iterable, so Django passes it through as it is (it walks an iterable's every item when it resolves a
    lookup's value and again when it checks a relation's values); the access filter's clauses keep theirs
    for as long as their grants (``accounts.access``). ``ids`` holds the values."""

    __slots__ = ("ids", "_sql")

    def __init__(self, ids):
        self.ids = ids.ids if isinstance(ids, Ids) else tuple(int(v) for v in ids)
        self._sql = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Ids({list(self.ids)!r})"

    def sql(self, vendor: str) -> str:
        """The test's right-hand side on ``vendor``'s database."""
        if vendor not in self._sql:
            digits = [str(v) for v in self.ids]
            self._sql[vendor] = (
                f"= ANY('{{{','.join(digits)}}}'::bigint[])"
                if vendor == "postgresql"
                else f"IN ({', '.join(digits)})"
            )
        return self._sql[vendor]


class InIds(Lookup):
    lookup_name = "in_ids"
    prepare_rhs = False

    def get_prep_lookup(self):
        return self.rhs if isinstance(self.rhs, Ids) else Ids(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "1 = 0", params
        return f"{lhs} {self.rhs.sql(connection.vendor)}", params


class Written:
    """A condition on the columns of one table, for ``field__written=``: ``write(table, connection)``
    gives its SQL and parameters with every column qualified by ``table`` (the quoted alias of the
    field's table in the query at hand); kept per alias and database, so a condition used by every
    query of a page (the access filter's) is written once, not resolved and compiled term by term."""

    __slots__ = ("write", "_sql")

    def __init__(self, write):
        self.write = write
        self._sql = {}

    def sql(self, table: str, connection) -> tuple[str, tuple]:
        key = (table, connection.vendor)
        if key not in self._sql:
            sql, params = self.write(table, connection)
            self._sql[key] = (sql, tuple(params))
        return self._sql[key]


class WrittenLookup(Lookup):
    """``field__written=Written(...)``: the condition written against the alias of ``field``'s table."""

    lookup_name = "written"
    prepare_rhs = False

    def get_prep_lookup(self):
        if not isinstance(self.rhs, Written):
            raise TypeError("__written takes a Written condition")
        return self.rhs

    def as_sql(self, compiler, connection):
        sql, params = self.rhs.sql(compiler.quote_name_unless_alias(self.lhs.alias), connection)
        return f"({sql})", list(params)


Field.register_lookup(InIds)
Field.register_lookup(WrittenLookup)
ForeignObject.register_lookup(InIds)  # foreign keys keep their own lookup registry
