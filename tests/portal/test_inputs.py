"""``portal.core.inputs`` and ``portal.core.limits``: the one place untrusted input is read (issue 12).

Units first (the JSON reader, whole numbers, dates, text limits, the log's clipping), then what the
NUL refusal does to the portal's pages and endpoints: a NUL character in a query parameter, a form
field, a cookie, a header or the path is a 400 before any view or database sees it — plain text for a
page, the ARM error shape for JSON endpoints. On PostgreSQL each of these used to be a DataError (500)."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from portal.core.errors import ServiceError


@pytest.fixture
def inputs():
    from portal.core import inputs

    return inputs


@pytest.fixture
def limits():
    from portal.core import limits

    return limits


def refused(fn, code: str, target=None, *words: str) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        fn()
    err = info.value
    assert err.code == code, repr(err)
    if target is not None:
        assert err.target == target, repr(err)
    for word in words:
        assert word.lower() in err.message.lower(), (word, err.message)
    return err


# --- The JSON reader ------------------------------------------------------------------------------------


def test_json_depth_is_limited_on_the_text_before_parsing(inputs, limits):
    ok = "[" * limits.JSON_DEPTH + "]" * limits.JSON_DEPTH
    assert inputs.parse_json(ok.encode()) is not None
    deep = "[" * (limits.JSON_DEPTH + 1) + "]" * (limits.JSON_DEPTH + 1)
    refused(lambda: inputs.parse_json(deep.encode()), "InvalidRequestContent", None, "levels deep")
    # brackets inside strings do not count, escaped quotes do not end a string
    text = json.dumps({"a": "[" * 5000 + '\\"{' * 100})
    assert inputs.parse_json(text.encode()) == json.loads(text)
    # a million levels: refused from the text, no RecursionError
    refused(lambda: inputs.parse_json(b"[" * 1_000_000), "InvalidRequestContent")


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"properties": {"description": "a\u0000"}}, "properties.description"),
        ({"a": [{"b": "ok"}, {"b": ["x", "\u0000"]}]}, "a[1].b[1]"),
        ({"tags": {"k\u0000": "v"}}, "tags.k?"),
        ("\u0000", "body"),
        ({"s": "\ud83d"}, "s"),  # half of an emoji's surrogate pair
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_property_path(inputs, body, target):
    raw = json.dumps(body).encode()
    refused(lambda: inputs.parse_json(raw), "InvalidParameter", target)


def test_well_formed_unicode_and_empty_bodies_pass(inputs):
    assert inputs.parse_json(json.dumps({"s": "😀 é"}).encode()) == {"s": "😀 é"}
    assert inputs.parse_json(b"") is None
    assert inputs.parse_json(b"  \n") is None
    refused(lambda: inputs.parse_json(b"\xff\xfe"), "InvalidRequestContent", None, "UTF-8")
    refused(lambda: inputs.parse_json(b"{nope"), "InvalidRequestContent", None, "not valid JSON")


def test_jsonc_is_read_only_when_asked(inputs):
    """A deployment's body as the az CLI sends it: comments, an unquoted property name, trailing commas
    (nothing inside a string is touched); other bodies stay strict JSON."""
    text = '{"properties": {"mode": "Incremental"}, template: {// c\n"u": "http://x/*y*/, }", /* b */ "a": [1,],},}'
    assert inputs.parse_json(text.encode(), jsonc=True) == {
        "properties": {"mode": "Incremental"},
        "template": {"u": "http://x/*y*/, }", "a": [1]},
    }
    refused(lambda: inputs.parse_json(text.encode()), "InvalidRequestContent", None, "not valid JSON")
    for bad in (b'{"a": 1 /* open', b'{"a": "open', b"{a b: 1}", b'{"a": 1,,}'):
        refused(lambda bad=bad: inputs.parse_json(bad, jsonc=True), "InvalidRequestContent", None, "line 1")


@pytest.mark.parametrize(
    "body",
    [b'"\\' * 1_300_000, b'"' * 4_000_000, b"/* " * 1_300_000, b", /*" * 1_000_000, b"a " * 2_000_000],
    ids=["escaped-quotes", "quotes", "open-comments", "commas-and-comments", "words"],
)
def test_no_body_makes_the_reader_quadratic(inputs, limits, body):
    """Unterminated strings and comments: the depth check and the JSONC rewrite scan once (the
    backtracking string pattern took 20 s for 80 KB of '"\\'); each of these 4 MB bodies is refused
    in well under a second on a laptop — the bound here is generous for a loaded CI machine."""
    assert len(body) <= limits.REQUEST_BODY
    started = time.monotonic()
    refused(lambda: inputs.parse_json(body, jsonc=True), "InvalidRequestContent")
    assert time.monotonic() - started < 10


def test_a_body_over_the_limit_is_413_whether_or_not_it_declared_its_length(inputs, limits):
    class Untouchable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("a body declared too large must not be read")

    err = refused(
        lambda: inputs.read_body(Untouchable(), {"CONTENT_LENGTH": str(limits.REQUEST_BODY + 1)}),
        "RequestContentTooLarge",
    )
    assert err.status == 413 and err.as_arm()["error"]["code"] == "RequestContentTooLarge"
    chunked = io.BytesIO(b"x" * (limits.REQUEST_BODY + 1))
    assert refused(lambda: inputs.read_body(chunked, {}), "RequestContentTooLarge").status == 413
    exact = io.BytesIO(b"x" * limits.REQUEST_BODY)
    assert len(inputs.read_body(exact, {})) == limits.REQUEST_BODY
    refused(
        lambda: inputs.read_body(io.BytesIO(b""), {"CONTENT_LENGTH": "abc"}),
        "InvalidParameter",
        "Content-Length",
    )


# --- Numbers and dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["²", "٣", "1e3", "0x10", "", " ", "-1", "9" * 5000, "1_000", True, 1.0, None, [1]]
)
def test_whole_numbers_are_ascii_digits_in_range(inputs, text):
    refused(lambda: inputs.whole_number(text, "n", "N", 0, 10**6), "InvalidParameter", "n")


def test_whole_numbers_accept_ints_and_digit_text_within_bounds(inputs):
    assert inputs.whole_number("42", "n", "N", 1, 100) == 42
    assert inputs.whole_number(" 007 ", "n", "N", 1, 100) == 7
    assert inputs.whole_number(100, "n", "N", 1, 100) == 100
    assert inputs.whole_number(str(inputs.MAX_ID), "n", "N", 0, inputs.MAX_ID) == inputs.MAX_ID
    err = refused(lambda: inputs.whole_number("101", "n", "$top", 1, 100), "InvalidParameter", "n")
    assert "from 1 to 100" in err.message
    refused(
        lambda: inputs.whole_number(str(inputs.MAX_ID + 1), "n", "N", 0, inputs.MAX_ID), "InvalidParameter"
    )


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T99:99:99Z",
        "2030-02-30T00:00:00Z",
        "2030-13-01",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
        "tomorrow",
        "",
        "2" * 5000,
        20301231,
        ["2030-01-01"],
    ],
)
def test_impossible_dates_are_refused_by_target(inputs, value):
    refused(
        lambda: inputs.parse_datetime(value, "properties.endOfLifeDate"),
        "InvalidParameter",
        "properties.endOfLifeDate",
    )


def test_dates_are_read_in_utc(inputs):
    assert inputs.parse_datetime(None, "x") is None
    assert inputs.parse_datetime("2030-01-02T03:04:05Z", "x") == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert inputs.parse_datetime("2030-01-02T03:04:05", "x") == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    shifted = inputs.parse_datetime("2030-01-02T03:04:05+02:00", "x")
    assert shifted == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC) and shifted.utcoffset() == timedelta(0)


# --- Text limits and the activity log's clipping --------------------------------------------------------


def test_text_is_a_string_without_nul_within_its_limit(limits):
    assert limits.text(None, 5, "t", "description") == ""
    assert limits.text("abcde", 5, "t", "description") == "abcde"
    err = refused(lambda: limits.text("abcdef", 5, "t", "description"), "InvalidParameter", "t", "limit is 5")
    assert len(err.message) < 200
    refused(lambda: limits.text("a\x00", 5, "t", "description"), "InvalidParameter", "t", "NUL")
    refused(lambda: limits.text(7, 5, "t", "description"), "InvalidParameter", "t", "text")
    refused(lambda: limits.text("", 5, "t", "name", required=True), "InvalidParameter", "t", "required")
    huge = "x" * 100_000
    assert len(refused(lambda: limits.text(huge, 5, "t", "d"), "InvalidParameter").message) < 200


def test_the_limits_are_azures_where_azure_states_them(limits):
    assert limits.REQUEST_BODY == 4 * 1024 * 1024  # ARM: RequestContentTooLarge above 4 MB
    assert limits.NAME == 80  # GalleryRP.json: galleryName {0,79} after the first character
    assert (limits.PUBLISHER, limits.OFFER, limits.SKU) == (128, 64, 64)
    # every free-text limit leaves room for a page of them under the body cap
    assert max(limits.DESCRIPTION, limits.EULA, limits.URI, limits.PURCHASE_PLAN) * 4 < limits.REQUEST_BODY


def test_the_log_never_keeps_more_than_a_few_hundred_characters_of_an_input(limits):
    message = limits.clip("m" * 100_000)
    assert len(message) == limits.LOG_MESSAGE and message.endswith("…")
    assert "\x00" not in limits.clip("a\x00b")
    details = limits.clip_details(
        {"k" * 1000: ["v" * 10_000] * 500, "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}
    )
    assert len(json.dumps(details)) < 20_000
    assert limits.quote("q" * 1000) == "q" * (limits.QUOTED - 1) + "…"


# --- NUL characters before any view ---------------------------------------------------------------------


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def assert_page_refusal(response, target_word: str):
    assert response.status_code == 400, (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("text/plain"), response["Content-Type"]
    assert "NUL" in response.content.decode() and target_word in response.content.decode()


def test_a_nul_in_the_search_box_is_refused(signed_in):
    assert_page_refusal(signed_in.get("/search?q=web%00"), "'q'")


def test_a_nul_in_the_activity_filter_is_refused(signed_in):
    assert_page_refusal(signed_in.get("/activity/?principal=alice%00"), "'principal'")


def test_a_nul_in_the_access_check_is_refused(signed_in, gallery):
    r = signed_in.get(f"/resources/{gallery.pk}/access/check?principal=alice%00@contoso.test")
    assert_page_refusal(r, "'principal'")


def test_a_nul_in_a_form_field_is_refused(client, db):
    r = client.post(
        "/login/", "username=alice%00&password=x", content_type="application/x-www-form-urlencoded"
    )
    assert_page_refusal(r, "'username'")


def test_a_nul_in_a_cookie_or_a_header_is_refused(client, db):
    assert_page_refusal(client.get("/", HTTP_COOKIE='sessionid="abcdefghijkl\\000"'), "cookie")
    assert_page_refusal(client.get("/", HTTP_X_REQUESTED_BY="a\x00"), "X-Requested-By")


def test_json_endpoints_answer_the_nul_refusal_in_the_arm_shape(signed_in, subscription):
    r = signed_in.get(f"/subscriptions/{subscription.guid}/resourcegroups?api-version=2022-12-01&x=%00")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert r.json()["error"]["target"] == "x" and set(r.json()["error"]) == {
        "code",
        "message",
        "target",
        "details",
    }
    r = signed_in.post("/uploads/", "name=a%00", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.json()["error"]["target"] == "name"


def test_ordinary_requests_pass(signed_in):
    assert signed_in.get("/search?q=web%20server&x=%2500").status_code == 200  # %2500 is the text "%00"


def test_a_request_django_itself_refuses_is_json_from_a_json_endpoint(client, user):
    """Too many form fields (Django's TooManyFieldsSent, raised while CSRF reads the form): the
    upload endpoint answers JSON, a page answers Django's page."""
    client.force_login(user)
    body = "&".join(f"f{i}=1" for i in range(1100))
    r = client.post("/uploads/", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r["Content-Type"] == "application/json", r.content[:200]
    assert r.json()["error"]["code"] == "InvalidParameter"
    r = client.post("/galleries/new", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r["Content-Type"].startswith("text/html")
