"""The one way the portal writes a size: binary units with one decimal ("64.0 MiB", "1.5 GiB",
"512 bytes") — what the upload page's script writes while a VHD is sent (``static/portal/upload.js``),
so a size reads the same on every page and in the replication panel (issue 13: "64.0 MiB" on one page
was "64.0 MB" on the next). Disk sizes are whole MiB, so binary units are also the exact ones."""

from __future__ import annotations

from functools import lru_cache

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


@lru_cache(maxsize=8192)
def format_size(size) -> str:
    if size is None or size == "":
        return "—"
    n = float(size)
    i = 0
    while n >= 1024 and i < len(UNITS) - 1:
        n /= 1024
        i += 1
    return f"{int(n)} bytes" if i == 0 else f"{n:.1f} {UNITS[i]}"
