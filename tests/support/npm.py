"""Upstream schemas that come as npm packages, fetched once with `npm pack` (which checks the
registry's integrity hash) and kept under `~/.cache/linli/npm/<package>-<version>/`."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "linli" / "npm"


def npm_package(name: str, version: str) -> Path:
    """The unpacked package `name@version` (its `package/` folder), fetched on first use."""
    home = CACHE / f"{name.lstrip('@').replace('/', '-')}-{version}"
    if (home / ".complete").exists():
        return home / "package"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{home.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time (parallel test processes)
        if not (home / ".complete").exists():
            with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
                subprocess.run(
                    ["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", scratch],
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                (tarball,) = Path(scratch).glob("*.tgz")
                unpacked = Path(scratch) / "unpacked"
                with tarfile.open(tarball) as archive:
                    archive.extractall(unpacked, filter="data")
                (unpacked / ".complete").write_text(f"{name}@{version}\n", encoding="utf-8")
                shutil.rmtree(home, ignore_errors=True)
                unpacked.rename(home)
    return home / "package"
