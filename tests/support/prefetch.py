"""What the tests fetch or install on first use, fetched once before pytest starts its processes.

`make pytest` runs this (with `deploy/local/kafka.sh install` and `postgres.sh install`) so that
parallel test processes (pytest-xdist) never run apt-get side by side. Each step is a no-op when
its result is already there; every fetch is also safe to run in parallel (a lock or a rename).
"""

from __future__ import annotations

from tests.support.browser import axe_source, ensure_chromium


def main() -> None:
    ensure_chromium()
    axe_source()


if __name__ == "__main__":
    main()
