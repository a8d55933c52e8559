"""ARM's ``uniqueString()`` and ``guid()``.

``uniqueString``: the arguments joined with ``-``, UTF-8, hashed with the 64-bit MurmurHash variant of
Microsoft.PowerPlatform.ResourceStack, and the top 65 bits written as 13 lowercase RFC 4648 base32
characters. Written from the algorithm as public reimplementations describe it (e.g. the
Bicep/ARM-compatible ``uniquestring.sh``); the test vectors they publish, and one a public C# test
labels as read from ARM's own output, are checked in tests/galleries/test_template_expressions.py.
It has not been compared with live ARM here.

``guid``: an RFC 4122 version-5 UUID (SHA-1) of the arguments joined with ``-``, under the namespace
``11fb06fb-712d-4ddd-98c7-e71bbd588830``, as the public reimplementations agree (Terraform
``uuidv5(...)`` stand-ins for ARM's ``guid()``, PowerShell and Python ports); not compared with live
ARM here.
"""

from __future__ import annotations

import uuid

_M32 = 0xFFFFFFFF
_C1, _C2, _C3, _C4 = 0xAB0E9789, 0x239B961B, 0x85EBCA6B, 0xC2B2AE35
GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _le(data: bytes, start: int, count: int) -> int:
    return int.from_bytes(data[start : start + count], "little")


def _fmix(h: int) -> int:
    h = ((h ^ (h >> 16)) * _C3) & _M32
    h = ((h ^ (h >> 13)) * _C4) & _M32
    return h ^ (h >> 16)


def murmur64(data: bytes) -> int:
    h1 = h2 = 0
    index = 0
    length = len(data)
    while index + 7 < length:
        k1 = _rotl((_le(data, index, 4) * _C2) & _M32, 15) * _C1 & _M32
        k2 = _rotl((_le(data, index + 4, 4) * _C1) & _M32, 17) * _C2 & _M32
        h1 = (_rotl(h1 ^ k1, 19) + h2) & _M32
        h1 = (h1 * 5 + 0x561CCD1B) & _M32
        h2 = (_rotl(h2 ^ k2, 13) + h1) & _M32
        h2 = (h2 * 5 + 0x0BCAA747) & _M32
        index += 8
    rest = length - index
    if rest > 0:
        k1 = _le(data, index, min(rest, 4))
        h1 ^= _rotl((k1 * _C2) & _M32, 15) * _C1 & _M32
        if rest > 4:
            k2 = _le(data, index + 4, rest - 4)
            h2 ^= _rotl((k2 * _C1) & _M32, 17) * _C2 & _M32
    h2 = (h2 ^ length) & _M32
    h1 = ((h1 ^ length) + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    h = murmur64("-".join(values).encode("utf-8"))
    bits = h << 1  # 13 characters take 65 bits: the last one ends with a zero bit
    return "".join(_BASE32[(bits >> (60 - 5 * i)) & 31] for i in range(13))


def arm_guid(*values: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "-".join(values)))
