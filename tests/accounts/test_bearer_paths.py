"""``takes_bearer_tokens`` answers the ARM paths by their head, without resolving the URL: its answers
must be the resolver's (``resolves_to_api``) for every path — every route of the project's URLconf with
sample values, and random paths around the heads it decides alone."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.middleware import resolves_to_api, takes_bearer_tokens

GUID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
VALUES = [
    GUID,
    GUID.upper(),
    "42",
    "rg-1",
    "Microsoft.Compute",
    ".well-known",
    "oauth2",
    "v2.0",
    "x%2Fy",
    "0b1c2d3e-",
]


def routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def samples(route: str):
    """Paths that ``route`` (a ``path()`` route, or a regex) could answer, with each value of ``VALUES``."""
    if route.startswith("^") or "(?" in route:
        body = route.lstrip("^").rstrip("$").replace("\\.", ".")
        body = re.sub(r"\(\?P<\w+>[^)]*\)", "sub", body)
        body = re.sub(r"\[0-9A-Fa-f\]\{8\}-\[0-9A-Fa-f-\]\{27\}\(\?:/\.\*\)\?", GUID + "/x", body)
        body = body.replace("(?:/)?", "").replace(".*", "any/thing")
        yield "/" + body
        return
    for value in VALUES:
        yield "/" + re.sub(r"<int:\w+>", "7", re.sub(r"<(?:str|path|slug):\w+>", value, route))
        # and the subscription a GUID whatever the other names
        yield "/" + re.sub(
            r"<int:\w+>", "7", re.sub(r"<str:sub>", GUID, route).replace("<str:", "<")
        ).replace("<", "").replace(">", "")


def both(path: str) -> tuple[bool, bool]:
    request = RequestFactory().get("/")
    request.path_info = path
    return takes_bearer_tokens(request), resolves_to_api(request)


def test_every_route_is_answered_as_the_resolver_answers():
    paths = {s for route in routes(get_resolver().url_patterns) for s in samples(route)}
    paths |= {
        "/",
        "/subscriptions",
        "/subscriptions/",
        "/subscriptions/7/",
        "/subscriptions/7/lifecycle/",
        "/providers",
        "/providers/",
        "/tenants",
        "/tenants/",
        f"/subscriptions/{GUID}",
        f"/subscriptions/{GUID}/",
        f"/subscriptions/{GUID}/.well-known/openid-configuration",
        "/subscriptions/.well-known/openid-configuration",
        "/providers/.well-known/openid-configuration",
        "/providers/oauth2/token",
        "/providers/Microsoft.Compute/operations",
        f"/subscriptions/{GUID}/x\n",
        "/providers/Microsoft.x\ny",
    }
    assert len(paths) > 300
    differ = [(p, *both(p)) for p in sorted(paths) if both(p)[0] != both(p)[1]]
    assert differ == []
    # The heads decided alone are the API's; the pages are not.
    assert both(f"/subscriptions/{GUID}/resourceGroups/rg") == (True, True)
    assert both("/subscriptions/7/") == (False, False)


SEGMENT = st.one_of(
    st.sampled_from(VALUES + ["", "providers", "resourceGroups", "discovery", "keys", "token", "\n"]),
    st.text(alphabet="0123456789abcdefABCDEF-./\n%xyz", max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(
    head=st.sampled_from(["/subscriptions", "/providers", "/tenants", "/graph", "/uploads", "", "/x"]),
    segments=st.lists(SEGMENT, max_size=5),
    slash=st.booleans(),
)
def test_random_paths_are_answered_as_the_resolver_answers(head, segments, slash):
    path = "/".join([head, *segments]) + ("/" if slash else "")
    path = path if path.startswith("/") else "/" + path
    decided, resolved = both(path)
    assert decided == resolved, path


@pytest.mark.parametrize("suffix", ["", "/", "/resourceGroups/rg/providers/Microsoft.Compute/galleries/g"])
def test_a_guid_subscription_head_is_the_apis(suffix):
    assert both(f"/subscriptions/{GUID}{suffix}") == (True, True)
