"""Draws the installable app's icons (static/icons/) from static/favicon.svg with the headless
Chromium the browser tests use. Run by hand after changing the logo:

    .venv/bin/python scripts/make_icons.py

`any` icons are the logo edge to edge; `maskable` ones keep it inside the safe zone (the inner
80 %) on the logo's colour, as Android crops them to its own shape."""

import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SVG = (ROOT / "static" / "favicon.svg").read_text()
OUT = ROOT / "static" / "icons"
BACKGROUND = "#1f4e79"
ICONS = {
    "cadence-192.png": (192, 1.0),
    "cadence-512.png": (512, 1.0),
    "cadence-maskable-512.png": (512, 0.7),
    "apple-touch-icon-180.png": (180, 1.0),
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        for name, (size, share) in ICONS.items():
            page = browser.new_page(viewport={"width": size, "height": size})
            logo = int(size * share)
            page.set_content(
                f'<body style="margin:0;display:grid;place-items:center;width:{size}px;'
                f'height:{size}px;background:{BACKGROUND}">'
                f'<div style="width:{logo}px;height:{logo}px">'
                f"{SVG.replace('<svg ', '<svg width="100%" height="100%" ')}</div></body>"
            )
            page.screenshot(path=str(OUT / name), omit_background=False)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
