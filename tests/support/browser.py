"""A real browser for the console's tests: Debian's Chromium driven by Playwright, and axe-core.

Playwright's own browser download is not used: the tests drive `/usr/bin/chromium`, installed
here from Debian's packages when it is missing. axe-core comes from the npm registry, pinned,
cached under ~/.cache/linli/axe-core-<version>/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_VERSION = "4.10.3"
CACHE = Path.home() / ".cache" / "linli"
VIEWPORTS = {"desktop": (1366, 768), "phone": (390, 844)}


# Chinese glyphs for the screenshots (the console is zh-CN by default).
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def ensure_chromium() -> Path:
    """Debian's chromium (and a CJK font), installed with apt-get when missing."""
    if not CHROMIUM.exists() or not CJK_FONT.exists():
        apt = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
        environment = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        subprocess.run([*apt, "update"], check=True, env=environment)
        subprocess.run(
            [*apt, "install", "chromium", "fonts-wqy-microhei"], check=True, env=environment
        )
    return CHROMIUM


def axe_source() -> str:
    """axe.min.js of the pinned axe-core, fetched once with npm."""
    target = CACHE / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not target.exists():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to fetch axe-core"
        with tempfile.TemporaryDirectory() as scratch:
            packed = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--json", "--pack-destination", scratch],
                check=True,
                capture_output=True,
                text=True,
            )
            tarball = Path(scratch) / json.loads(packed.stdout)[0]["filename"]
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                content = member.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own per process (parallel test processes), renamed into place at once.
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as part:
            part.write(content)
        Path(part.name).replace(target)
    return target.read_text(encoding="utf-8")


def serious_violations(page: Any, axe: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe)
    result: dict[str, Any] = page.evaluate("async () => await window.axe.run(document)")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
