"""``manage.py make_vhd PATH --size 64MiB [--seed N]``: write a valid fixed VHD.

Why: to try uploads, image creation and benchmarks without a Hyper-V host or qemu-img at hand.
The file passes the same checks as a user's upload; with the same size and seed it is the same
file (and SHA-256) on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from galleries.vhd import FOOTER_SIZE, VhdFormatError, format_size, parse_size, write_fixed_vhd


class Command(BaseCommand):
    help = (
        "Write a valid fixed VHD (pseudo-random disk data plus the 512-byte footer) to PATH and print "
        "its path, total size in bytes and SHA-256."
    )
    # Needs neither the database nor the system checks: it only writes a file.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="Where to write the VHD (e.g. disk.vhd).")
        parser.add_argument(
            "--size",
            default="64MiB",
            help="Virtual size of the disk, footer excluded: a whole number of MiB up to 1TiB, "
            "e.g. 64MiB, 1GiB, 1.5GiB (default: 64MiB).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="Seed of the pseudo-random data; the same size and seed give the same file (default: 0).",
        )
        parser.add_argument("--force", action="store_true", help="Overwrite PATH if it exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            virtual_size = parse_size(options["size"])
        except ValueError as exc:
            raise CommandError(f"--size: {exc}") from exc
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} already exists; pass --force to overwrite it")
        if not path.parent.is_dir():
            raise CommandError(f"the directory {path.parent} does not exist")
        try:
            sha256 = write_fixed_vhd(path, virtual_size, seed=options["seed"])
        except VhdFormatError as exc:
            raise CommandError(f"--size {options['size']}: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}") from exc
        total = virtual_size + FOOTER_SIZE
        self.stdout.write(f"path: {path}")
        self.stdout.write(f"bytes: {total} ({format_size(virtual_size)} disk + {FOOTER_SIZE}-byte footer)")
        self.stdout.write(f"sha256: {sha256}")
