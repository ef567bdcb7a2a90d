"""The `feature_flags` command-line tool that ships inside this package.

`python -m feature_flags ARGS` and the `feature_flags` console script run the
Rust binary installed at `feature_flags/bin/feature_flags`, replacing this
process with it (exec), so the arguments, output, exit codes and signals are
the binary's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BINARY = Path(__file__).resolve().parent / "bin" / "feature_flags"


def main() -> None:
    if not os.access(BINARY, os.X_OK):
        sys.stderr.write(
            f"error: the feature_flags tool is missing from this installation ({BINARY}); "
            "reinstall the feature_flags package\n"
        )
        sys.exit(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(BINARY, [str(BINARY), *sys.argv[1:]])


if __name__ == "__main__":
    main()
