"""``field__in_ids=[1, 2, 3]``: an IN list of integers written into the SQL as literals.

The access filter's IN lists can hold a thousand ids; as bind parameters Django compiles and the
driver binds each one (several milliseconds per query, measured in bench/access.py). The values are
forced through ``int()``, so nothing but digits reaches the SQL.
"""

from django.db.models import Field, ForeignObject, Lookup


class InIds(Lookup):
    lookup_name = "in_ids"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "1 = 0", params
        return f"{lhs} IN ({', '.join(str(int(v)) for v in self.rhs)})", params


Field.register_lookup(InIds)
ForeignObject.register_lookup(InIds)  # foreign keys keep their own lookup registry
