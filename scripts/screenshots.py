"""Save screenshots of the portal's main pages into docs/screenshots/ (1300×850 PNG).

Run against a portal that is up with the demo data (``make run`` in another terminal), then::

    .venv/bin/python scripts/screenshots.py                 # https://localhost:8443, docs/screenshots/
    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:8765 --out /tmp/shots

It only reads pages (GET requests, plus signing in and picking a directory in the switcher, which
change nothing but the browser's session): it never creates, changes or deletes anything. A page
that does not exist in this version of the portal, or a demo resource it cannot find, is skipped
and said so. The browser is the system Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``), never
one that Playwright downloads. It does not check the portal's certificate (`make run` serves HTTPS with the
installation's own CA, which Chromium does not know): point it at your own portal only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1300, "height": 850}
ADMIN = ("admin@contoso.com", "Contoso-Admin-2026")
GUEST = ("bob@fabrikam.com", "Bob-Fabrikam-2026")
OPERATOR = ("operator", "Operator-2026")
NARROW = {"width": 390, "height": 844}
PK = re.compile(r"/(\d+)/")


class Shooter:
    def __init__(self, base_url: str, out: Path):
        self.base_url = base_url.rstrip("/")
        self.out = out
        self.saved: list[str] = []
        self.skipped: list[str] = []

    def sign_in(self, page: Page, username: str, password: str) -> bool:
        page.goto(f"{self.base_url}/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if "/login/" in page.url:
            self.skipped.append(f"everything as {username}: the sign-in was refused")
            return False
        return True

    def find_pk(self, page: Page, shown_as: str) -> int | None:
        """The id of a resource, from its link in All resources (hidden types on, filtered by name)."""
        name = shown_as.rsplit("/", 1)[-1]
        page.goto(f"{self.base_url}/?hidden=1&q={name}")
        link = page.locator("main table a", has_text=re.compile(rf"^\s*{re.escape(shown_as)}\s*$")).first
        if link.count() == 0:
            return None
        match = PK.search(link.get_attribute("href") or "")
        return int(match.group(1)) if match else None

    def shoot(self, page: Page, filename: str, path: str | None, what: str, *, focus: str | None = None):
        """Open ``path`` and save the viewport; ``focus``: a selector scrolled to the top first."""
        if path is None:
            self.skipped.append(f"{filename}: {what} (the demo resource was not found)")
            return
        response = page.goto(f"{self.base_url}{path}")
        if response is None or response.status >= 400:
            status = response.status if response else "no answer"
            self.skipped.append(f"{filename}: {what} — {path} answered {status}")
            return
        page.wait_for_load_state("networkidle")
        if focus and page.locator(focus).count():
            page.locator(focus).first.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(self.out / filename))
        self.saved.append(f"{filename}: {what} ({path})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=os.environ.get("PORTAL_URL", "https://localhost:8443"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    if not os.access(args.chromium, os.X_OK):
        print(f"No Chromium at {args.chromium}: install it with `apt-get install chromium`.", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    s = Shooter(args.base_url, args.out)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            health = browser.new_page(ignore_https_errors=True).goto(f"{s.base_url}/healthz")
        except Exception as exc:  # nothing listening
            print(
                f"The portal does not answer at {s.base_url} ({exc}); start it with `make run`.",
                file=sys.stderr,
            )
            return 2
        if health is None or not health.ok:
            print(f"The portal at {s.base_url} is not healthy; start it with `make run`.", file=sys.stderr)
            return 2

        admin = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True).new_page()
        if s.sign_in(admin, *ADMIN):
            gallery = s.find_pk(admin, "ContosoGallery")
            definition = s.find_pk(admin, "ContosoGallery/myImage1")
            version = s.find_pk(admin, "ContosoGallery/myImage1/1.0.1")
            subscription = s.find_pk(admin, "Contoso Production")

            def at(pk, suffix=""):
                return None if pk is None else f"/resources/{pk}/{suffix}"

            s.shoot(admin, "all-resources.png", "/?hidden=1", "All resources with hidden types")
            s.shoot(admin, "gallery.png", at(gallery), "the gallery ContosoGallery")
            s.shoot(admin, "definition.png", at(definition), "the definition myImage1 and its versions")
            s.shoot(
                admin, "replication-progress.png", at(version), "version 1.0.1 replicating to three regions"
            )
            s.shoot(
                admin,
                "access-control.png",
                at(gallery, "access/"),
                "the gallery's access control, at its role assignments",
                focus="h2:has-text('Role assignments')",
            )
            s.shoot(
                admin,
                "version-create.png",
                None if definition is None else f"/definitions/{definition}/versions/new",
                "the new-version steps (Basics, Replication, Tags, Review + create)",
                focus="#steps",
            )
            s.shoot(
                admin,
                "galleries-list.png",
                "/galleries/",
                "the galleries list: filters, sorting, bulk actions",
            )
            s.shoot(admin, "notifications.png", "/notifications/", "notifications of long-running work")
            narrow = browser.new_context(viewport=NARROW, ignore_https_errors=True).new_page()
            if s.sign_in(narrow, *ADMIN):
                s.shoot(narrow, "narrow-390px.png", "/?hidden=1", "All resources at 390 px")
                if narrow.locator("#menu-toggle").count():
                    narrow.locator("#menu-toggle").click()
                    narrow.screenshot(path=str(s.out / "narrow-390px-menu.png"))
                    s.saved.append("narrow-390px-menu.png (the menu open at 390 px)")
            s.shoot(admin, "directory.png", "/directory/", "the directory (tenant administrators)")
            s.shoot(admin, "api-docs.png", "/api/docs/", "the ARM-compatible API's interactive docs")
            s.shoot(admin, "activity-log.png", "/activity/", "the activity log")
            s.shoot(admin, "subscriptions.png", "/subscriptions/", "subscriptions")
            s.shoot(
                admin,
                "subscription-usage.png",
                None if subscription is None else f"/subscriptions/{subscription}/",
                "Contoso Production: usage against its limits",
            )
            s.shoot(
                admin,
                "subscription-cost.png",
                None if subscription is None else f"/subscriptions/{subscription}/cost/",
                "Contoso Production: monthly cost",
            )

        operator = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True).new_page()
        if s.sign_in(operator, *OPERATOR):
            s.shoot(operator, "operators.png", "/administration/operator/", "the operators' landing page")

        guest = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True).new_page()
        if s.sign_in(guest, *GUEST):
            switcher = guest.locator("#directory-switcher")
            if switcher.count() and switcher.locator("option", has_text="Contoso (guest)").count():
                with guest.expect_navigation():  # the switcher submits its form on change
                    switcher.select_option(label="Contoso (guest)")
                guest.goto(f"{s.base_url}/?hidden=1")
                if guest.locator("main table tbody tr").count():
                    s.shoot(
                        guest, "guest-sees-shared-gallery.png", "/?hidden=1", "the guest's view of Contoso"
                    )
                else:
                    s.skipped.append(
                        "guest-sees-shared-gallery.png: Bob sees nothing in Contoso yet — share "
                        "ContosoGallery with him first (README, 'Share a gallery with another tenant')"
                    )
            else:
                s.skipped.append("guest-sees-shared-gallery.png: Bob is not a guest of Contoso")
        browser.close()

    for line in s.saved:
        print(f"saved    {args.out / line}")
    for line in s.skipped:
        print(f"skipped  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
