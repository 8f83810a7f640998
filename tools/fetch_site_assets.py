"""Fetch the website's pinned front-end libraries from npm into site/static/vendor/.

    python -m tools.fetch_site_assets

The site serves them from its own origin (no CDN); they are not kept in git.
"""

from __future__ import annotations

from tools.pinned import PROJECT_DIR, from_npm, install

VENDOR_DIR = PROJECT_DIR / "site" / "static" / "vendor"
ASSETS = {
    # file served: (npm package, file inside it, SHA-256)
    "lightweight-charts.js": ("lightweight-charts@5.2.1",
                              "dist/lightweight-charts.standalone.production.js",
                              "e21cc5caa0226ef30bd8549c50b9ef926615f2a4ee6b4e486353477a55f598cf"),
    "qrcode.js": ("qrcode-generator@2.0.4", "dist/qrcode.js",
                  "79ec86f82856005b1c887905cfccfcfbec3821ca61c7fd5a952faa5f778f791c"),
}


def main() -> None:
    for name, (package, member, digest) in ASSETS.items():
        print(install(VENDOR_DIR / name, digest, from_npm(package, member)))


if __name__ == "__main__":
    main()
