"""ARM's template expression language on a lark grammar.

A JSON string is an expression when it starts with ``[`` and ends with ``]``; ``[[`` at the start
escapes a literal ``[`` (learn.microsoft.com/azure/azure-resource-manager/templates/template-expressions).
Inside: function calls, ``'...'`` strings with ``''`` for a quote, integers, property access
``.name`` / ``['name']`` and indexes ``[0]``. The tree is turned into small tuples:
``("lit", value)``, ``("call", name, args)``, ``("get", target, key_expr)``.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError

from galleries.arm.errors import ExpressionError

GRAMMAR = r"""
start: expr
?expr: chain
?chain: atom
      | chain "." NAME            -> prop
      | chain "[" expr "]"        -> index
?atom: NAME "(" [expr ("," expr)*] ")" -> call
     | STRING                      -> string
     | INT                         -> integer
NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
STRING: /'(?:[^']|'')*'/
INT: /-?[0-9]+/
%import common.WS
%ignore WS
"""


@v_args(inline=True)
class _ToTuples(Transformer):
    def start(self, expr):
        return expr

    def call(self, name, *args):
        return ("call", str(name), tuple(a for a in args if a is not None))

    def string(self, token):
        return ("lit", str(token)[1:-1].replace("''", "'"))

    def integer(self, token):
        value = int(token)
        if not -(2**63) <= value < 2**63:
            raise ExpressionError(f"The integer '{token}' is outside the 64-bit range.")
        return ("lit", value)

    def prop(self, target, name):
        return ("get", target, ("lit", str(name)))

    def index(self, target, key):
        return ("get", target, key)


_PARSER = Lark(GRAMMAR, parser="lalr", transformer=_ToTuples())


def is_expression(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("[")
        and value.endswith("]")
        and not value.startswith("[[")
    )


def unescape(value: str) -> str:
    """A literal string: ``[[x]`` stands for ``[x]``."""
    return value[1:] if value.startswith("[[") else value


@lru_cache(maxsize=4096)
def parse(text: str) -> tuple:
    """Parse the inside of ``[...]``; a syntax error is an :class:`ExpressionError`."""
    if not text.strip():
        raise ExpressionError("The language expression is empty.")
    try:
        return _PARSER.parse(text)
    except LarkError as exc:
        raise ExpressionError(f"The language expression '{text}' is not valid: {_short(exc)}") from None
    except RecursionError:
        raise ExpressionError("The language expression is nested too deeply.") from None


def _short(exc: Exception) -> str:
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


def calls(tree: tuple, name: str | None = None):
    """Every call of ``name`` (case-insensitive; every call when None) in a parsed tree, outermost first."""
    kind = tree[0]
    if kind == "call":
        if name is None or tree[1].lower() == name:
            yield tree
        for arg in tree[2]:
            yield from calls(arg, name)
    elif kind == "get":
        yield from calls(tree[1], name)
        yield from calls(tree[2], name)
