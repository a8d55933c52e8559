"""Reading untrusted input, once (issue 12): every request body, number, date and text a caller
sends passes through here before any rule or database sees it, and a bad one is a 4xx that names the
field and the rule — never a 500, never an HTML page from a JSON endpoint.

- ``parse_json``: the one JSON reader (the API's DRF parser and the upload endpoints): at most
  ``limits.REQUEST_BODY`` bytes (413 ``RequestContentTooLarge`` beyond, before parsing), nesting at
  most ``limits.JSON_DEPTH`` deep (checked on the text before parsing: no RecursionError), and no
  string — value or property name — holding a NUL (PostgreSQL cannot store one) or a lone surrogate
  (not encodable); the refusal names the property path.
- ``whole_number``: integers from text with ASCII digits only (``"²".isdigit()`` is true, and
  ``int("²")`` fails) and a range, so a 5,000-digit number is refused before ``int()`` or the
  database sees it.
- ``parse_datetime``: the one date-time reader (ISO 8601, UTC when no offset is given, within the
  years 1–9999 in UTC); ``9999-12-31T99:99:99Z`` and ``2030-02-30T00:00:00Z`` are refused by path.
- ``RefuseNulMiddleware``: a NUL in the path, the query string, a cookie, a header or a
  form-encoded body is refused with 400 before any view runs (JSON in the ARM shape for the API, the
  uploads and anything that asks for JSON; plain text for pages).
- ``csrf_failure``: Django's CSRF refusal, in JSON for JSON endpoints.

It imports no app (only Django and ``portal.core.errors``/``portal.core.limits``), so any layer may use it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime as _django_parse_datetime
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from portal.core import limits
from portal.core.errors import ServiceError


class RequestTooLarge(ServiceError):
    """413 ``RequestContentTooLarge``, ARM's answer to a body over 4 MB."""

    status = 413

    def __init__(self, size: int | None = None):
        shown = f" ({size:,} bytes)" if size is not None else ""
        super().__init__(
            "RequestContentTooLarge",
            f"The request content size{shown} exceeds the maximum size of "
            f"{limits.REQUEST_BODY // (1024 * 1024)} MB ({limits.REQUEST_BODY:,} bytes).",
        )


def invalid_content(message: str, target: str | None = None) -> ServiceError:
    return ServiceError("InvalidRequestContent", message, target)


# --- Request bodies -------------------------------------------------------------------------------------


def declared_length(meta) -> int | None:
    """The request's Content-Length as a number, None when absent; a malformed one is refused."""
    raw = meta.get("CONTENT_LENGTH") or ""
    if raw == "":
        return None
    return whole_number(raw, "Content-Length", "The Content-Length header", 0, None)


def check_declared_size(meta, limit: int = limits.REQUEST_BODY) -> None:
    """Refuse (413) a body whose declared length is over ``limit`` before reading a byte of it."""
    length = declared_length(meta)
    if length is not None and length > limit:
        raise RequestTooLarge(length)


def read_body(stream, meta, limit: int = limits.REQUEST_BODY) -> bytes:
    """At most ``limit`` bytes of a request body (413 beyond), whether or not it declared its length."""
    check_declared_size(meta, limit)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise RequestTooLarge()
    return data


#: A string, or an unterminated one to the end; possessive, so the scan stays linear ('"\\"\\…' made the
#: backtracking form quadratic: 80 KB took 20 s).
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def json_depth(raw: bytes) -> int:
    """How deep ``raw`` nests arrays and objects, read off the text (strings left out)."""
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", raw))
    depth = deepest = 0
    for c in brackets:
        if c in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def parse_json(
    raw: bytes | str,
    *,
    max_depth: int = limits.JSON_DEPTH,
    limit: int = limits.REQUEST_BODY,
    jsonc: bool = False,
):
    """The one JSON reader for request bodies. An empty body is ``None``. ``jsonc``: a body that is not
    JSON may be JSONC as ARM's deserializer reads it (comments, unquoted property names, trailing
    commas) — what the az CLI sends for a deployment (see ``ArmJSONCParser``)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise RequestTooLarge(len(raw))
    if not raw.strip():
        return None
    if json_depth(raw) > max_depth:
        raise invalid_content(
            f"The request body nests arrays and objects more than {max_depth} levels deep; no body this "
            "API reads needs more than a few."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise invalid_content(f"The request body is not valid UTF-8 (byte {err.start:,}).") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        data = _jsonc(text) if jsonc else _NOT_JSON
        if data is _NOT_JSON:
            where = (
                f" at line {err.lineno}, column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
            )
            raise invalid_content(f"The request body is not valid JSON{where}.") from None
    check_strings(data)
    return data


_NOT_JSON = object()
#: JSONC's extras over JSON, each found once in a linear scan (strings first, so nothing inside one is
#: touched): comments (dropped), unquoted property names (quoted), trailing commas (dropped). Possessive
#: quantifiers, and an unterminated string or comment running to the end: no backtracking, so no input
#: makes the scan quadratic.
_JSONC = re.compile(
    r"""(?P<string>"(?:[^"\\]++|\\.?)*+(?:"|\Z))
    |(?P<comment>//[^\n]*+|/\*.*?(?:\*/|\Z))
    |(?P<key>(?<![\w$.])[A-Za-z_$][\w$]*+)(?=\s*+:)
    |,(?=(?:\s++|//[^\n]*+|/\*.*?(?:\*/|\Z))*+[}\]])""",
    re.DOTALL | re.VERBOSE,
)


def _jsonc_part(match: re.Match) -> str:
    if match.group("string") is not None:
        return match.group("string")
    comment = match.group("comment")
    if comment is not None:  # an unterminated /* runs to the end (one scan) and stays: not JSON
        return " " if comment.startswith("//") or (len(comment) >= 4 and comment.endswith("*/")) else comment
    if match.group("key") is not None:
        return f'"{match.group("key")}"'
    return ""  # a trailing comma


def _jsonc(text: str):
    """``text`` read as JSONC — JSON with comments, unquoted property names and trailing commas, as
    ARM's deserializer reads it — or ``_NOT_JSON``. A regular-expression rewrite then ``json.loads``,
    both linear: a 4 MB body is read in well under a second."""
    try:
        return json.loads(_JSONC.sub(_jsonc_part, text))
    except (ValueError, RecursionError):
        return _NOT_JSON


def _path(parent: str, key) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def check_strings(data, root: str = "") -> None:
    """Refuse a NUL character or a lone surrogate in any string of ``data`` (keys too), by path."""
    stack = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            _check_string(value, path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                where = _path(path, _BAD_CHARS.sub("?", key))
                _check_string(key, where, "property name")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((_path(path, i), item) for i, item in enumerate(value))


def _check_string(value: str, target: str, what: str = "value") -> None:
    bad = _BAD_CHARS.search(value)
    if bad is None:
        return
    if bad.group() == "\x00":
        raise ServiceError.invalid(
            target, f"The {what} of '{target}' contains a NUL character (\\u0000); remove it."
        )
    raise ServiceError.invalid(
        target, f"The {what} of '{target}' contains a lone UTF-16 surrogate; send valid Unicode text."
    )


# --- Numbers and dates ----------------------------------------------------------------------------------


def whole_number(value, target: str, what: str, low: int | None = 0, high: int | None = None) -> int:
    """An int, or text of ASCII digits, within [low, high] (None: unbounded). Anything else is refused
    naming ``target`` and the range, before ``int()`` could fail or a database could overflow."""
    bound = (
        f"from {low:,} to {high:,}"
        if low is not None and high is not None
        else f"of at least {low:,}"
        if low is not None
        else f"of at most {high:,}"
        if high is not None
        else ""
    )
    rule = f"{what} must be a whole number {bound}".rstrip() + "."
    if isinstance(value, bool):
        raise ServiceError.invalid(target, f"{rule} {limits.quote(value)} was given.")
    if isinstance(value, str):
        text = value.strip()
        digits = len(str(high)) if high is not None else 19
        if not text or not (text.isascii() and text.isdecimal()) or len(text.lstrip("0")) > digits:
            raise ServiceError.invalid(target, f"{rule} '{limits.quote(value)}' was given.")
        value = int(text)
    if not isinstance(value, int):
        raise ServiceError.invalid(target, f"{rule} {limits.quote(value)} was given.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ServiceError.invalid(target, f"{rule} {limits.quote(str(value))} was given.")
    return value


#: The largest id a database integer key holds (PostgreSQL bigint, SQLite INTEGER).
MAX_ID = 2**63 - 1


def row_id(value) -> int | None:
    """A database id from text a form or URL carried (ASCII digits within the key's range), or None for
    anything else — "²", 5,000 digits, "-1" name no row, and must not reach ``int()`` or the database."""
    text = str(value if value is not None else "").strip()
    if not text or not (text.isascii() and text.isdecimal()) or len(text.lstrip("0")) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def parse_datetime(value, target: str) -> datetime | None:
    """ISO 8601 date and time → an aware datetime in UTC (UTC is assumed without an offset). None
    stays None; anything else that is not a real date and time within years 1–9999 is refused."""
    if value is None:
        return None
    example = "2030-12-31T00:00:00Z"
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            parsed = _django_parse_datetime(value.strip())
        except ValueError:
            raise ServiceError.invalid(
                target,
                f"'{target}' is not a real date and time ('{limits.quote(value)}'): check the day of the "
                f"month and that hours, minutes and seconds are in range, e.g. {example}.",
            ) from None
    else:
        parsed = None
    if parsed is None:
        raise ServiceError.invalid(
            target, f"'{target}' must be a date and time such as {example}; {limits.quote(value)} was given."
        )
    try:
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ServiceError.invalid(
            target, f"'{target}' is outside the years 1 to 9999 once converted to UTC."
        ) from None


# --- Before any view: NUL characters --------------------------------------------------------------------

#: Paths whose answers are JSON (the ARM API, its docs' schema, uploads, the token endpoint) — but
#: not the portal's own pages among them (/subscriptions/, /subscriptions/<number>/…, /uploads/new).
JSON_PREFIXES = (
    "/subscriptions",
    "/providers",
    "/tenants",
    "/uploads",
    "/api/openapi",
    "/oauth2/",
    "/msi/",
    "/graph/",
    "/metadata/",
)
#: The identity endpoints under ``/{tenant}/`` (accounts.views_identity): JSON too.
JSON_PARTS = ("/oauth2/", "/.well-known/", "/discovery/", "/userrealm/")
_PAGES = re.compile(r"^/(?:subscriptions/(?:[0-9]{1,19}/(?:cost/|lifecycle/)?)?|uploads/new)$")


def wants_json(request) -> bool:
    path = request.path_info or ""
    if _PAGES.match(path):
        return False
    if path.startswith(JSON_PREFIXES) or any(part in path for part in JSON_PARTS):
        return True
    accept = request.META.get("HTTP_ACCEPT", "")
    content_type = request.META.get("CONTENT_TYPE", "")
    return accept.startswith("application/json") or content_type.startswith("application/json")


def oauth_error(
    request, error: str, code: int, description: str, status: int = 400, headers: dict | None = None
) -> JsonResponse:
    """An OAuth error (RFC 6749 §5.2) in Entra ID's shape: ``error``, ``error_description``
    (``AADSTS<code>: ...`` with the trace and correlation ids and the time), ``error_codes``, ``timestamp``,
    ``trace_id``, ``correlation_id`` (the client's ``client-request-id`` when it sent one)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {now}",
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
    }
    return JsonResponse(
        body, status=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    )


def refusal(request, err: ServiceError) -> HttpResponse:
    """``err`` as the endpoint speaks: an OAuth error from the token endpoint, ARM-shaped JSON from the API,
    plain text for a page."""
    if "/oauth2/" in (request.path_info or ""):
        return oauth_error(request, "invalid_request", 900144, err.message)
    if wants_json(request):
        return JsonResponse(err.as_arm(), status=err.status)
    return HttpResponse(f"{err.message}\n", status=err.status, content_type="text/plain; charset=utf-8")


def _nul_in_query(raw: str) -> str | None:
    """The name of the query parameter (or form field) holding a NUL, if any."""
    if "%00" not in raw and "\x00" not in raw:
        return None
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return limits.quote(key.replace("\x00", "?"), 40) or "?"
    return "?"


def find_nul(request) -> ServiceError | None:
    """The first NUL character of the request outside a JSON body, as a refusal naming where it is."""

    def refused(target: str, where: str) -> ServiceError:
        return ServiceError.invalid(
            target, f"{where} contains a NUL character (%00); remove it — no text here may hold one."
        )

    if "\x00" in request.path_info:
        return refused("path", "The request path")
    name = _nul_in_query(request.META.get("QUERY_STRING", ""))
    if name is not None:
        return refused(name, f"The query parameter '{name}'")
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            header = key[5:].replace("_", "-").title()
            return refused(header, f"The header '{header}'")
    for key, value in request.COOKIES.items():
        if "\x00" in key or "\x00" in value:
            return refused("Cookie", "A cookie")
    if request.META.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = request.body.decode("latin-1")  # the raw bytes; only looking for %00 or a NUL byte
        name = _nul_in_query(body)
        if name is not None:
            return refused(name, f"The form field '{name}'")
    return None


class RefuseNulMiddleware:
    """First in the chain: a NUL character anywhere a text input arrives (other than a JSON body,
    which ``parse_json`` checks by property path) is a 400 before sessions, views or the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            problem = find_nul(request)
        except RequestDataTooBig:
            problem = RequestTooLarge()
        if problem is not None:
            return refusal(request, problem)
        return self.get_response(request)


def csrf_failure(request, reason: str = ""):
    """CSRF_FAILURE_VIEW: ARM-shaped JSON 403 for JSON endpoints, Django's page for the rest."""
    if wants_json(request):
        err = ServiceError.forbidden(
            f"CSRF check failed ({reason}): a signed-in browser must send the X-CSRFToken header "
            "with the csrftoken cookie's value; scripts should use a bearer token instead."
        )
        return JsonResponse(err.as_arm(), status=403)

    return django_csrf_failure(request, reason=reason)


def bad_request(request, exception=None):
    """handler400 (a request Django itself refuses: too many form fields, a bad Host header, …): JSON
    from a JSON endpoint, never its HTML page."""
    if wants_json(request):
        err = ServiceError.invalid(
            None, f"The request was refused: {limits.quote(str(exception or ''), 200)}".rstrip(": ")
        )
        return refusal(request, err)
    return defaults.bad_request(request, exception)


def server_error(request):
    """handler500: what escaped every view's own handling. JSON from a JSON endpoint (ARM's shape, as
    ``portal.core.arm.exception_handler`` answers), Django's page for the rest."""
    if wants_json(request):
        body = ServiceError(
            "InternalServerError", "The server failed to process the request; it has been logged."
        ).as_arm()
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
