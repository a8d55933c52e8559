"""ARM's template functions: string, numeric, comparison, logical, array and object, date.

Semantics follow learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-*
(string, numeric, comparison, logical, array, object, date). Function names are case-insensitive.
Deployment, resource and lambda functions are in :mod:`galleries.arm.functions_scope`.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid

import json5

from galleries.arm.errors import ExpressionError
from galleries.arm.evaluator import FUNCTIONS
from galleries.arm.hashing import arm_guid, unique_string


def fn(*names: str, min_args: int = 0, max_args: int | None = None):
    def register(function):
        for name in names:

            def checked(ctx, *args, _name=name, _f=function):
                if len(args) < min_args or (max_args is not None and len(args) > max_args):
                    want = (
                        str(min_args)
                        if min_args == max_args
                        else f"{min_args} to {max_args if max_args is not None else 'n'}"
                    )
                    raise ExpressionError(
                        f"The template language function '{_name}' expects {want} parameter(s), but {len(args)} were provided."
                    )
                return _f(ctx, *args)

            FUNCTIONS[name.lower()] = checked
        return function

    return register


def type_name(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def expect(value, kinds: tuple, function: str, position: int = 1):
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        wanted = " or ".join(type_name(k()) if k is not type(None) else "Null" for k in kinds)
        raise ExpressionError(
            f"The template language function '{function}' expects its parameter {position} to be of type "
            f"'{wanted}'. The provided value is of type '{type_name(value)}'."
        )
    return value


def to_string(value) -> str:
    """ARM's ``string()``: booleans as ``True``/``False``, objects and arrays as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _int(value, function: str, position: int = 1) -> int:
    return expect(value, (int,), function, position)


def _str(value, function: str, position: int = 1) -> str:
    return expect(value, (str,), function, position)


# --- string -------------------------------------------------------------------------------------


@fn("concat")
def _concat(ctx, *args):
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    for i, a in enumerate(args, 1):
        if isinstance(a, list | dict):
            raise ExpressionError(
                f"The template language function 'concat' cannot mix arrays and strings (parameter {i})."
            )
    return "".join(to_string(a) for a in args)


_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}|[{}]")


@fn("format", min_args=1)
def _format(ctx, template, *args):
    """.NET composite formatting: ``{index[,alignment][:format]}``, ``{{``/``}}`` for braces."""
    _str(template, "format")

    def item(match):
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        if match.group(1) is None:
            raise ExpressionError(
                "The template language function 'format' was given a format string that is not valid."
            )
        index = int(match.group(1))
        if index >= len(args):
            raise ExpressionError(f"The template language function 'format' has no argument {index}.")
        spec = match.group(3)
        text = _dotnet_number(args[index], spec) if spec else to_string(args[index])
        width = int(match.group(2) or 0)
        if abs(width) > 1000:
            raise ExpressionError(
                "The alignment given to the template language function 'format' is too large."
            )
        return text.ljust(-width) if width < 0 else text.rjust(width)

    return _FORMAT_ITEM.sub(item, template)


def _dotnet_number(value, spec: str) -> str:
    """The .NET numeric format strings templates use: N/n (grouped), D/d (zero padded), X/x, F/f."""
    kind, digits = spec[:1], spec[1:]
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or kind not in "NnDdXxFf"
        or not digits.isdigit()
        and digits
    ):
        raise ExpressionError(f"The format specifier '{spec}' is not supported.")
    if digits and int(digits) > 99:
        raise ExpressionError(f"The format specifier '{spec}' asks for too many digits.")
    if kind in "Nn":
        return f"{value:,.{int(digits or 2)}f}"
    if kind in "Ff":
        return f"{value:.{int(digits or 2)}f}"
    if kind in "Dd":
        return f"{int(value):0{int(digits or 0)}d}"
    return f"{int(value):0{int(digits or 0)}{kind}}"


@fn("toLower", min_args=1, max_args=1)
def _lower(ctx, s):
    return _str(s, "toLower").lower()


@fn("toUpper", min_args=1, max_args=1)
def _upper(ctx, s):
    return _str(s, "toUpper").upper()


@fn("trim", min_args=1, max_args=1)
def _trim(ctx, s):
    return _str(s, "trim").strip()


@fn("substring", min_args=2, max_args=3)
def _substring(ctx, s, start, length=None):
    _str(s, "substring")
    _int(start, "substring", 2)
    if length is None:
        length = len(s) - start
    _int(length, "substring", 3)
    if start < 0 or length < 0 or start + length > len(s):
        raise ExpressionError(
            "The index and length parameters must refer to a location within the string. The index parameter: "
            f"'{start}', the length parameter: '{length}', the length of the string parameter: '{len(s)}'."
        )
    return s[start : start + length]


@fn("replace", min_args=3, max_args=3)
def _replace(ctx, s, old, new):
    _str(s, "replace"), _str(old, "replace", 2), _str(new, "replace", 3)
    if not old:
        raise ExpressionError("The template language function 'replace' cannot replace an empty string.")
    return s.replace(old, new)


@fn("split", min_args=2, max_args=2)
def _split(ctx, s, delimiters):
    _str(s, "split")
    if isinstance(delimiters, str):
        delimiters = [delimiters]
    expect(delimiters, (list,), "split", 2)
    if not delimiters or not all(isinstance(d, str) and d for d in delimiters):
        raise ExpressionError("The template language function 'split' needs non-empty string delimiters.")
    return re.split("|".join(re.escape(d) for d in delimiters), s)


@fn("join", min_args=2, max_args=2)
def _join(ctx, items, delimiter):
    expect(items, (list,), "join")
    _str(delimiter, "join", 2)
    for item in items:
        if isinstance(item, list | dict) or item is None:
            raise ExpressionError(
                "The template language function 'join' joins strings, integers and booleans only."
            )
    return delimiter.join(to_string(i) for i in items)


@fn("padLeft", min_args=2, max_args=3)
def _pad_left(ctx, value, total, pad=" "):
    expect(value, (str, int), "padLeft")
    _int(total, "padLeft", 2)
    if total > 16384:
        raise ExpressionError(
            "The total length given to the template language function 'padLeft' is too large."
        )
    _str(pad, "padLeft", 3)
    if len(pad) != 1:
        raise ExpressionError(
            "The padding character of the template language function 'padLeft' must be one character."
        )
    return to_string(value).rjust(total, pad)


@fn("startsWith", min_args=2, max_args=2)
def _starts(ctx, s, prefix):
    return _str(s, "startsWith").lower().startswith(_str(prefix, "startsWith", 2).lower())


@fn("endsWith", min_args=2, max_args=2)
def _ends(ctx, s, suffix):
    return _str(s, "endsWith").lower().endswith(_str(suffix, "endsWith", 2).lower())


@fn("indexOf", min_args=2, max_args=2)
def _index_of(ctx, target, item):
    if isinstance(target, list):
        return next((i for i, v in enumerate(target) if _equal(v, item)), -1)
    return _str(target, "indexOf").lower().find(_str(item, "indexOf", 2).lower())


@fn("lastIndexOf", min_args=2, max_args=2)
def _last_index_of(ctx, target, item):
    if isinstance(target, list):
        return next((i for i in range(len(target) - 1, -1, -1) if _equal(target[i], item)), -1)
    return _str(target, "lastIndexOf").lower().rfind(_str(item, "lastIndexOf", 2).lower())


@fn("length", min_args=1, max_args=1)
def _length(ctx, value):
    return len(expect(value, (str, list, dict), "length"))


@fn("empty", min_args=1, max_args=1)
def _empty(ctx, value):
    if value is None:
        return True
    return len(expect(value, (str, list, dict), "empty")) == 0


@fn("contains", min_args=2, max_args=2)
def _contains(ctx, container, item):
    if isinstance(container, str):
        return to_string(item) in container
    if isinstance(container, dict):
        return isinstance(item, str) and any(k.lower() == item.lower() for k in container)
    expect(container, (list,), "contains")
    return any(_equal(v, item) for v in container)


@fn("string", min_args=1, max_args=1)
def _string(ctx, value):
    return to_string(value)


@fn("base64", min_args=1, max_args=1)
def _base64(ctx, s):
    return base64.b64encode(_str(s, "base64").encode()).decode()


@fn("base64ToString", min_args=1, max_args=1)
def _base64_to_string(ctx, s):
    try:
        return base64.b64decode(_str(s, "base64ToString"), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ExpressionError(
            "The template language function 'base64ToString' was given a value that is not base64."
        ) from None


@fn("base64ToJson", min_args=1, max_args=1)
def _base64_to_json(ctx, s):
    return _json(ctx, _base64_to_string(ctx, s))


@fn("dataUri", min_args=1, max_args=1)
def _data_uri(ctx, s):
    return "data:text/plain;charset=utf8;base64," + _base64(ctx, s)


@fn("dataUriToString", min_args=1, max_args=1)
def _data_uri_to_string(ctx, s):
    head, sep, data = _str(s, "dataUriToString").partition(",")
    if not sep or not head.startswith("data:"):
        raise ExpressionError(
            "The template language function 'dataUriToString' was given a value that is not a data URI."
        )
    if head.endswith(";base64"):
        return _base64_to_string(ctx, data)
    return urllib.parse.unquote(data)


@fn("uriComponent", min_args=1, max_args=1)
def _uri_component(ctx, s):
    return urllib.parse.quote(_str(s, "uriComponent"), safe="")


@fn("uriComponentToString", min_args=1, max_args=1)
def _uri_component_to_string(ctx, s):
    return urllib.parse.unquote(_str(s, "uriComponentToString"))


@fn("uri", min_args=2, max_args=2)
def _uri(ctx, base, relative):
    """As .NET ``new Uri(base, relative)``: a relative path replaces what follows the base's last ``/``."""
    _str(base, "uri"), _str(relative, "uri", 2)
    if not urllib.parse.urlsplit(base).scheme:
        raise ExpressionError(
            f"The template language function 'uri' needs an absolute base URI, not '{base}'."
        )
    return urllib.parse.urljoin(base, relative)


@fn("uniqueString", min_args=1)
def _unique_string(ctx, *values):
    for i, v in enumerate(values, 1):
        _str(v, "uniqueString", i)
    return unique_string(*values)


@fn("guid", min_args=1)
def _guid(ctx, *values):
    for i, v in enumerate(values, 1):
        _str(v, "guid", i)
    return arm_guid(*values)


@fn("newGuid", min_args=0, max_args=0)
def _new_guid(ctx):
    if not ctx.defaults:
        raise ExpressionError(
            "The template function 'newGuid' can only be used in the default value of a parameter."
        )
    return str(uuid.uuid4())


@fn("first", min_args=1, max_args=1)
def _first(ctx, value):
    expect(value, (str, list), "first")
    return value[0] if value else ("" if isinstance(value, str) else None)


@fn("last", min_args=1, max_args=1)
def _last(ctx, value):
    expect(value, (str, list), "last")
    return value[-1] if value else ("" if isinstance(value, str) else None)


@fn("take", min_args=2, max_args=2)
def _take(ctx, value, count):
    expect(value, (str, list), "take")
    return value[: max(0, _int(count, "take", 2))]


@fn("skip", min_args=2, max_args=2)
def _skip(ctx, value, count):
    expect(value, (str, list), "skip")
    return value[max(0, _int(count, "skip", 2)) :]


# --- numeric --------------------------------------------------------------------------------------


INT64 = (-(2**63), 2**63 - 1)


def int64(value: int, function: str) -> int:
    """ARM integers are 64-bit: a result outside that range is an error, not a wrap-around."""
    if not INT64[0] <= value <= INT64[1]:
        raise ExpressionError(
            f"The result of the template language function '{function}' is outside the 64-bit integer range."
        )
    return value


@fn("add", min_args=2, max_args=2)
def _add(ctx, a, b):
    return int64(_int(a, "add") + _int(b, "add", 2), "add")


@fn("sub", min_args=2, max_args=2)
def _sub(ctx, a, b):
    return int64(_int(a, "sub") - _int(b, "sub", 2), "sub")


@fn("mul", min_args=2, max_args=2)
def _mul(ctx, a, b):
    return int64(_int(a, "mul") * _int(b, "mul", 2), "mul")


def _divisor(b, function):
    if _int(b, function, 2) == 0:
        raise ExpressionError(f"The template language function '{function}' cannot divide by zero.")
    return b


@fn("div", min_args=2, max_args=2)
def _div(ctx, a, b):
    """Integer division truncating toward zero, as C#."""
    _int(a, "div"), _divisor(b, "div")
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


@fn("mod", min_args=2, max_args=2)
def _mod(ctx, a, b):
    """The remainder takes the dividend's sign, as C#."""
    _int(a, "mod"), _divisor(b, "mod")
    return a - b * _div(ctx, a, b)


def _numbers(args, function):
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    if not values:
        raise ExpressionError(f"The template language function '{function}' needs at least one value.")
    for i, v in enumerate(values, 1):
        _int(v, function, i)
    return values


@fn("min", min_args=1)
def _min(ctx, *args):
    return min(_numbers(args, "min"))


@fn("max", min_args=1)
def _max(ctx, *args):
    return max(_numbers(args, "max"))


@fn("int", min_args=1, max_args=1)
def _to_int(ctx, value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ExpressionError(
        f"The template language function 'int' cannot convert '{to_string(value)}' to an integer."
    )


@fn("float", min_args=1, max_args=1)
def _to_float(ctx, value):
    try:
        return float(expect(value, (str, int), "float"))
    except ValueError:
        raise ExpressionError(
            f"The template language function 'float' cannot convert '{value}' to a number."
        ) from None


@fn("range", min_args=2, max_args=2)
def _range(ctx, start, count):
    _int(start, "range"), _int(count, "range", 2)
    if count < 0 or count > 10000:
        raise ExpressionError(
            "The count of the template language function 'range' must be between 0 and 10000."
        )
    return list(range(start, start + count))


# --- comparison and logical ------------------------------------------------------------------------


def _equal(a, b) -> bool:
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return set(a) == set(b) and all(_equal(a[k], b[k]) for k in a)
    return a == b


@fn("equals", min_args=2, max_args=2)
def _equals(ctx, a, b):
    return _equal(a, b)


def _comparable(a, b, function):
    if (
        not (isinstance(a, int) and isinstance(b, int) or isinstance(a, str) and isinstance(b, str))
        or isinstance(a, bool)
        or isinstance(b, bool)
    ):
        raise ExpressionError(
            f"The template language function '{function}' compares two integers or two strings, "
            f"not '{type_name(a)}' and '{type_name(b)}'."
        )
    return a, b


@fn("less", min_args=2, max_args=2)
def _less(ctx, a, b):
    a, b = _comparable(a, b, "less")
    return a < b


@fn("lessOrEquals", min_args=2, max_args=2)
def _less_eq(ctx, a, b):
    a, b = _comparable(a, b, "lessOrEquals")
    return a <= b


@fn("greater", min_args=2, max_args=2)
def _greater(ctx, a, b):
    a, b = _comparable(a, b, "greater")
    return a > b


@fn("greaterOrEquals", min_args=2, max_args=2)
def _greater_eq(ctx, a, b):
    a, b = _comparable(a, b, "greaterOrEquals")
    return a >= b


@fn("coalesce", min_args=1)
def _coalesce(ctx, *args):
    return next((a for a in args if a is not None), None)


def _bools(args, function):
    for i, a in enumerate(args, 1):
        expect(a, (bool,), function, i)
    return args


@fn("and", min_args=2)
def _and(ctx, *args):
    return all(_bools(args, "and"))


@fn("or", min_args=2)
def _or(ctx, *args):
    return any(_bools(args, "or"))


@fn("not", min_args=1, max_args=1)
def _not(ctx, value):
    return not expect(value, (bool,), "not")


@fn("bool", min_args=1, max_args=1)
def _bool(ctx, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return value != 0
    raise ExpressionError(
        f"The template language function 'bool' cannot convert '{to_string(value)}' to a boolean."
    )


@fn("true", max_args=0)
def _true(ctx):
    return True


@fn("false", max_args=0)
def _false(ctx):
    return False


@fn("null", max_args=0)
def _null(ctx):
    return None


# --- array and object -------------------------------------------------------------------------------


@fn("array", min_args=1, max_args=1)
def _array(ctx, value):
    return value if isinstance(value, list) else [value]


@fn("createArray")
def _create_array(ctx, *items):
    return list(items)


@fn("createObject")
def _create_object(ctx, *pairs):
    if len(pairs) % 2:
        raise ExpressionError(
            "The template language function 'createObject' needs an even number of parameters."
        )
    for i in range(0, len(pairs), 2):
        _str(pairs[i], "createObject", i + 1)
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}


def _merge(a, b):
    """``union`` of objects merges nested objects too; the later value wins otherwise."""
    out = dict(a)
    for key, value in b.items():
        out[key] = (
            _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
        )
    return out


@fn("union", min_args=2)
def _union(ctx, *args):
    if all(isinstance(a, list) for a in args):
        out = []
        for a in args:
            out.extend(v for v in a if not any(_equal(v, seen) for seen in out))
        return out
    if all(isinstance(a, dict) for a in args):
        out = {}
        for a in args:
            out = _merge(out, a)
        return out
    raise ExpressionError("The template language function 'union' takes all arrays or all objects.")


@fn("intersection", min_args=2)
def _intersection(ctx, first, *rest):
    if isinstance(first, list) and all(isinstance(r, list) for r in rest):
        out = []
        for v in first:
            if all(any(_equal(v, w) for w in r) for r in rest) and not any(_equal(v, s) for s in out):
                out.append(v)
        return out
    if isinstance(first, dict) and all(isinstance(r, dict) for r in rest):
        return {k: v for k, v in first.items() if all(k in r and _equal(r[k], v) for r in rest)}
    raise ExpressionError("The template language function 'intersection' takes all arrays or all objects.")


@fn("items", min_args=1, max_args=1)
def _items(ctx, value):
    """Sorted by key, as the documentation notes."""
    expect(value, (dict,), "items")
    return [{"key": k, "value": value[k]} for k in sorted(value, key=str.lower)]


@fn("objectKeys", min_args=1, max_args=1)
def _object_keys(ctx, value):
    return list(expect(value, (dict,), "objectKeys"))


@fn("json", min_args=1, max_args=1)
def _json(ctx, text):
    """Lenient as ARM's JSON reader: single-quoted strings and bare property names are accepted (the
    documented base64ToJson example parses ``{'one': 'a', 'two': 'b'}``)."""
    try:
        return json5.loads(_str(text, "json"))
    except ValueError as exc:
        raise ExpressionError(
            f"The template language function 'json' was given invalid JSON: {exc}."
        ) from None
