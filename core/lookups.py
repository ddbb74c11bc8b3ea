"""`field__any_of=ArraySubquery(...)`: `field = ANY(ARRAY(SELECT ...))`.

PostgreSQL evaluates the ARRAY(...) once, before the scan, and can then use the field's index;
`field IN (SELECT ...)` OR'ed with another condition can only be checked row by row, which made
a salesperson's account list scan every customer (customer_scope)."""

from django.db.models import Field, ForeignKey, Lookup


@Field.register_lookup
@ForeignKey.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]
