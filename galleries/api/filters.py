"""ARM's ``$filter`` on the resource listings and the resource-group list, parsed with a real grammar (lark).

The grammar is the one the Microsoft.Resources spec documents for "Resources - List" (spec
``specification/resources/resource-manager/Microsoft.Resources/stable/2025-04-01/resources.json``,
parameter ``$filter``) and the one the az CLI sends (``az resource list``: ``_list_resources_odata_filter_builder``
in ``azure/cli/command_modules/resource/custom.py``; ``az group list --tag``):

- ``<field> eq '<value>'`` and ``ne``, for ``resourceGroup``, ``resourceType``, ``location``, ``name``;
- ``tagName eq '<name>'``, alone or with ``and tagValue eq '<value>'`` (the value of that tag);
- ``substringof('<text>', name)`` and ``substringof('<text>', resourceGroup)``;
- ``startswith(tagName, '<prefix>')``;
- all combined with ``and`` / ``or`` (``and`` binds tighter) and parentheses.

Comparisons are case-insensitive, as ARM's. Strings are OData literals (a quote doubled inside). The
resource-group list accepts the tag clauses only, as ARM does. What this does not understand is refused
with ARM's ``400 InvalidFilterInQueryString`` ("Invalid $filter '…' specified in the query string.",
the code and message quoted in Azure/azure-sdk-for-go#2480 and Azure/azure-sdk-for-net#18748), followed
by the clause at fault — never ignored, which would list more than was asked for.
"""

from __future__ import annotations

from django.db.models import F, Q
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.lookups import Exact
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from portal.core import limits
from portal.core.errors import ServiceError

INVALID_FILTER = "InvalidFilterInQueryString"

GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: atom (_AND atom)*
?atom: comparison
     | substringof
     | startswith
     | "(" disjunction ")"
comparison: FIELD OPERATOR STRING
substringof: _SUBSTRINGOF "(" STRING "," FIELD ")"
startswith: _STARTSWITH "(" FIELD "," STRING ")"

_OR.2: /or\b/i
_AND.2: /and\b/i
_SUBSTRINGOF.2: /substringof(?=\s*\()/i
_STARTSWITH.2: /startswith(?=\s*\()/i
OPERATOR.2: /(eq|ne)\b/i
FIELD: /[A-Za-z_][A-Za-z0-9_\/]*/
STRING: /'(?:[^']|'')*'/

%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)

#: Fields of ``<field> eq|ne '<value>'`` → how to compare a resource to the value.
RESOURCE_FIELDS = ("resourcegroup", "resourcetype", "location", "name", "tagname", "tagvalue")
GROUP_FIELDS = ("tagname", "tagvalue")


class _Refused(Exception):
    def __init__(self, clause: str, why: str):
        super().__init__(why)
        self.clause, self.why = clause, why


def _text(token: Token) -> str:
    return token.value[1:-1].replace("''", "'")


class _Compile(Transformer):
    """The parse tree → a ``Q`` (tag pairs are resolved in ``conjunction``)."""

    def __init__(self, fields: tuple[str, ...], tag_prefix):
        super().__init__()
        self.fields = fields
        self.tag_prefix = tag_prefix

    @v_args(inline=True)
    def comparison(self, field: Token, operator: Token, value: Token):
        name, op, text = field.value.lower(), operator.value.lower(), _text(value)
        clause = f"{field.value} {operator.value} {value.value}"
        if name not in self.fields:
            raise _Refused(clause, f"'{field.value}' is not a property this list can be filtered by")
        if name in ("tagname", "tagvalue"):
            if op != "eq":
                raise _Refused(clause, "tags are compared with eq only")
            return ("tag", name, text, clause)
        if name == "resourcegroup":
            q = Q(resource_group__name__iexact=text)
        elif name == "resourcetype":
            q = Q(type__iexact=text)
        elif name == "location":
            q = Q(location__name__iexact=text.replace(" ", "").lower())
        else:
            q = Q(name__iexact=text)
        return ~q if op == "ne" else q

    @v_args(inline=True)
    def substringof(self, value: Token, field: Token):
        name = field.value.lower()
        if name == "name" and "name" in self.fields:
            return Q(name__icontains=_text(value))
        if name == "resourcegroup" and "resourcegroup" in self.fields:
            return Q(resource_group__name__icontains=_text(value))
        raise _Refused(
            f"substringof({value.value}, {field.value})",
            "substringof() applies to name and resourceGroup only",
        )

    @v_args(inline=True)
    def startswith(self, field: Token, value: Token):
        if field.value.lower() != "tagname":
            raise _Refused(
                f"startswith({field.value}, {value.value})", "startswith() applies to tagName only"
            )
        return self.tag_prefix(_text(value))

    def conjunction(self, items):
        names = [i for i in items if isinstance(i, tuple) and i[1] == "tagname"]
        values = [i for i in items if isinstance(i, tuple) and i[1] == "tagvalue"]
        if values and len(names) != 1 or len(values) > 1:
            clause = (values or names)[0][3]
            raise _Refused(clause, "tagValue eq needs exactly one tagName eq joined to it with 'and'")
        q = Q()
        for item in items:
            if isinstance(item, tuple):
                continue
            q &= item
        if values:
            q &= _tag(names[0][2], values[0][2])
        else:
            for name in names:
                q &= _tag(name[2], None)
        return q

    def disjunction(self, items):
        q = Q()
        for item in items:
            q |= self._q(item)
        return q

    def _q(self, item):
        return self.conjunction([item]) if isinstance(item, tuple) else item


def _tag(name: str, value: str | None) -> Q:
    if value is None:
        return Q(HasKey(F("tags"), name))
    return Q(Exact(KeyTextTransform(name, "tags"), value))


def compile_filter(text: str | None, fields: tuple[str, ...] = RESOURCE_FIELDS, tag_prefix=None) -> Q | None:
    """``$filter`` → a ``Q`` over ``Resource`` rows (None when there is no filter). ``tag_prefix(p)``
    gives the ``Q`` of ``startswith(tagName, p)`` (it needs the rows; see ``tag_prefix_q``)."""
    if text is None or not text.strip():
        return None
    compiler = _Compile(fields, tag_prefix or (lambda p: Q(pk__in=[])))
    try:
        result = compiler.transform(_PARSER.parse(text))
        if isinstance(result, tuple):  # a lone tagName / tagValue comparison
            result = compiler.conjunction([result])
    except VisitError as exc:
        if isinstance(exc.orig_exc, _Refused):
            raise _invalid(text, f"'{exc.orig_exc.clause}': {exc.orig_exc.why}.") from None
        raise
    except _Refused as exc:
        raise _invalid(text, f"'{exc.clause}': {exc.why}.") from None
    except UnexpectedInput as exc:
        column = getattr(exc, "column", -1)
        where = text[column - 1 :][:40] if column and column > 0 else ""
        near = f"near '{limits.quote(where)}'" if where else "at its end"
        raise _invalid(text, f"It cannot be read {near}.") from None
    except LarkError:
        raise _invalid(text, "It cannot be read.") from None
    return result


def _invalid(text: str, detail: str) -> ServiceError:
    return ServiceError(
        INVALID_FILTER,
        f"Invalid $filter '{limits.quote(text)}' specified in the query string. {detail} Supported: "
        "resourceGroup, resourceType, location, name (eq, ne), tagName eq [and tagValue eq], "
        "substringof('x', name|resourceGroup), startswith(tagName, 'x'), joined with and/or.",
        "$filter",
    )


def tag_prefix_q(queryset):
    """``startswith(tagName, p)`` over ``queryset``: the rows with a tag name starting with ``p``
    (case-insensitively), read from the rows the caller may list anyway."""

    def q(prefix: str) -> Q:
        prefix = prefix.lower()
        ids = [
            pk
            for pk, tags in queryset.values_list("pk", "tags").iterator()
            if any(str(k).lower().startswith(prefix) for k in (tags or {}))
        ]
        return Q(pk__in=ids)

    return q


def apply(queryset, text: str | None, fields: tuple[str, ...] = RESOURCE_FIELDS):
    q = compile_filter(text, fields, tag_prefix_q(queryset))
    return queryset if q is None else queryset.filter(q)
