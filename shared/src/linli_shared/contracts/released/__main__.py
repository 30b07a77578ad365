"""`python -m linli_shared.contracts.released <version>`: snapshot the contracts as a release.

Refuses when the contracts break the latest release (that needs new versioned types first).
"""

from __future__ import annotations

import sys

from linli_shared.contracts import CATALOGUE
from linli_shared.contracts.released import (
    incompatibilities,
    load_release,
    releases,
    write_release,
)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m linli_shared.contracts.released <MAJOR.MINOR.PATCH>")
        return 2
    known = releases()
    if known:
        problems = incompatibilities(load_release(known[-1]), CATALOGUE)
        if problems:
            print(f"the contracts break release {known[-1]}:", *problems, sep="\n  ")
            return 1
    print(f"wrote {write_release(argv[0], CATALOGUE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
