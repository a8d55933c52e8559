"""How much of each kind of input the portal takes, declared once (issue 12).

The services enforce these (``galleries.services`` through ``text()``), the API schema states them
(``galleries.api_schema``: ``maxLength``), the pages get the services' refusal next to the field, and
``portal.core.inputs`` caps what reaches any parser. Plain constants and one check: this module imports no
app, so every layer can use it.

Where Azure states a number, it is Azure's; where it does not, the number is ours and says so.

- ``REQUEST_BODY``: ARM refuses a request body over 4 MB with ``RequestContentTooLarge`` ("The
  request content size exceeds the maximum size of 4 MB." — ARM's answer as quoted in e.g.
  Azure/bicep-registry-modules#2358 and Azure/avdaccelerator#632). The same cap applies to every JSON
  body here, with status 413.
- ``NAME``: gallery names, at most 80 characters — the ``galleryName`` pattern of
  Azure/azure-rest-api-specs
  ``specification/compute/resource-manager/Microsoft.Compute/GalleryRP/stable/2024-03-03/GalleryRP.json``
  (``^[^_\\W][\\w-._]{0,79}(?<![-.])$``); the services apply it to every resource name.
- ``PUBLISHER``/``OFFER``/``SKU``: 128/64/64, the limits the services enforced since F6, kept. The
  spec gives ``GalleryImageIdentifier`` no ``maxLength``, and no Azure statement of them was found to
  confirm or change them.
- Tags (50 per resource, names 512, values 256): ARM's tag limits, in ``accounts.services``.
- ``DESCRIPTION``, ``EULA``, ``URI``, ``PURCHASE_PLAN``: the specs type these as plain strings with no
  ``maxLength`` (GalleryRP.json above: ``GalleryProperties.description``,
  ``GalleryImageProperties.description``/``eula``/``privacyStatementUri``/``releaseNoteUri``,
  ``ImagePurchasePlan``), so these numbers are the portal's own: a description is a paragraph or a
  page (4,096), a licence agreement a long document (64 Ki characters), a URI what browsers and
  Azure Storage take (2,048, the column's width), a purchase-plan field the width of the publisher
  (128). Each is far below ``REQUEST_BODY``, so a list page of 100 definitions stays small.
- ``JSON_DEPTH``: the deepest ARM body this API reads nests 6 levels
  (``properties.storageProfile.dataDiskImages[i].source.id``); 32 leaves room and stays far from
  Python's recursion limit.
- ``QUOTED``: how much of an input a message (and so the activity log) quotes; ``LOG_MESSAGE``: the
  longest message the activity log keeps.
"""

from __future__ import annotations

from portal.core.errors import ServiceError

REQUEST_BODY = 4 * 1024 * 1024
JSON_DEPTH = 32

NAME = 80
PUBLISHER = 128
OFFER = 64
SKU = 64
DESCRIPTION = 4096
EULA = 65536
URI = 2048
PURCHASE_PLAN = 128

QUOTED = 60
LOG_MESSAGE = 1000
LOG_DETAIL = 200


def quote(value, limit: int = QUOTED) -> str:
    """``value`` as a message shows it: at most ``limit`` characters, with '…' when cut."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(value, limit: int, target: str, what: str, *, required: bool = False) -> str:
    """A free-text input: a string (None counts as empty), without NUL, at most ``limit`` characters.
    Refusals name ``target`` and say the rule."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError.invalid(target, f"The {what} must be text; {quote(value)} was given.")
    if required and not value:
        raise ServiceError.invalid(target, f"The {what} is required.")
    if "\x00" in value:
        raise ServiceError.invalid(target, f"The {what} contains a NUL character (\\u0000); remove it.")
    if len(value) > limit:
        raise ServiceError.invalid(
            target,
            f"The {what} is {len(value):,} characters long; the limit is {limit:,}. Shorten it "
            f"(it starts '{quote(value, 30)}').",
        )
    return value


def clip(message: str, limit: int = LOG_MESSAGE) -> str:
    """A message cut to ``limit`` characters (the activity log's guarantee, whatever a message quotes),
    with any NUL character written out (no database text column can hold one)."""
    message = str(message).replace("\x00", "\\u0000")
    return message if len(message) <= limit else message[: limit - 1] + "…"


def clip_details(value, limit: int = LOG_DETAIL, _depth: int = 0):
    """The activity log's ``details``: every string cut to ``limit`` characters, at most 50 items per
    list or object and 6 levels, so a refused write never copies a large input into the log."""
    if _depth > 6:
        return "…"
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        items = list(value.items())
        out = {clip(str(k), limit): clip_details(v, limit, _depth + 1) for k, v in items[:50]}
        if len(items) > 50:
            out["…"] = f"{len(items) - 50} more"
        return out
    if isinstance(value, list | tuple):
        out = [clip_details(v, limit, _depth + 1) for v in value[:50]]
        if len(value) > 50:
            out.append(f"… {len(value) - 50} more")
        return out
    return value
