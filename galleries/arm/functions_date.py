"""ARM's date functions: utcNow (parameter defaults only), dateTimeAdd, dateTimeToEpoch, dateTimeFromEpoch.

learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-date: dateTimeAdd counts
P1Y as 365 days and P1M as 30 days; without a format the result is ISO 8601 (``2024-01-01T00:00:00Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from galleries.arm.errors import ExpressionError
from galleries.arm.functions import _int, _str, fn

_DOTNET_TOKENS = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|fff|tt|'[^']*'|.")
_STANDARD = {"u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss", "d": "M/d/yyyy"}


def format_datetime(moment: datetime, fmt: str) -> str:
    """The .NET date format strings templates use (standard ``u``, ``s``, ``d``, ``o`` and custom tokens)."""
    if fmt == "o":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    fmt = _STANDARD.get(fmt, fmt)
    parts = {
        "yyyy": f"{moment.year:04d}", "yy": f"{moment.year % 100:02d}", "MM": f"{moment.month:02d}",
        "M": str(moment.month), "dd": f"{moment.day:02d}", "d": str(moment.day), "HH": f"{moment.hour:02d}",
        "H": str(moment.hour), "hh": f"{(moment.hour % 12) or 12:02d}", "h": str((moment.hour % 12) or 12),
        "mm": f"{moment.minute:02d}", "m": str(moment.minute), "ss": f"{moment.second:02d}", "s": str(moment.second),
        "fff": f"{moment.microsecond // 1000:03d}", "tt": "AM" if moment.hour < 12 else "PM",
    }  # fmt: skip
    out = []
    for token in _DOTNET_TOKENS.findall(fmt):
        if token.startswith("'"):
            out.append(token[1:-1])
        else:
            out.append(parts.get(token, token))
    return "".join(out)


@fn("utcNow", min_args=0, max_args=1)
def _utc_now(ctx, fmt="yyyyMMddTHHmmssZ"):
    if not ctx.defaults:
        raise ExpressionError(
            "The template function 'utcNow' can only be used in the default value of a parameter."
        )
    return format_datetime(datetime.now(UTC), _str(fmt, "utcNow"))


_DURATION = re.compile(
    r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_datetime(value: str) -> datetime:
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ExpressionError(f"The value '{value}' is not a valid ISO 8601 date and time.") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@fn("dateTimeAdd", min_args=2, max_args=3)
def _date_time_add(ctx, base, duration, fmt=None):
    """P1Y counts as 365 days and P1M as 30 days, as documented."""
    moment = parse_datetime(_str(base, "dateTimeAdd"))
    match = _DURATION.match(_str(duration, "dateTimeAdd", 2))
    if not match or duration.rstrip("T").endswith("P"):
        raise ExpressionError(f"The value '{duration}' is not a valid ISO 8601 duration.")
    sign, years, months, weeks, days, hours, minutes, seconds = match.groups()
    delta = timedelta(
        days=int(years or 0) * 365 + int(months or 0) * 30 + int(weeks or 0) * 7 + int(days or 0),
        hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0),
    )  # fmt: skip
    moment = moment - delta if sign else moment + delta
    if fmt is None:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return format_datetime(moment, _str(fmt, "dateTimeAdd", 3))


@fn("dateTimeToEpoch", min_args=1, max_args=1)
def _to_epoch(ctx, value):
    return int(parse_datetime(_str(value, "dateTimeToEpoch")).timestamp())


@fn("dateTimeFromEpoch", min_args=1, max_args=1)
def _from_epoch(ctx, value):
    return datetime.fromtimestamp(_int(value, "dateTimeFromEpoch"), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
