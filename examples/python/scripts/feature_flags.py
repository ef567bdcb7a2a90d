#!/usr/bin/env python3
"""`python scripts/feature_flags.py ARGS`: the operators' feature_flags tool, as before.

Runs the binary installed with the Python package (`pip install
feature_flags-*.whl` also puts `feature_flags` on the virtualenv's PATH, and
`python -m feature_flags` works too): same arguments, output and exit codes.
In this repository without the package installed, it runs the workspace's
CLI through cargo.

A bot's repository can keep a copy in its scripts/ folder, where operators
expect it, as long as no other script in that folder imports feature_flags:
for them this file's name would shadow the package (which is why it is not
in this repository's scripts/).
"""

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is named like the package: keep its folder off the import path.
sys.path = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

try:
    from feature_flags.__main__ import main
except ImportError:
    cargo = shutil.which("cargo")
    manifest = HERE.parents[2] / "Cargo.toml"  # examples/python/scripts -> repository
    if cargo is None or not manifest.is_file():
        sys.exit("error: the feature_flags package is not installed: pip install feature_flags-*.whl")
    os.execv(
        cargo,
        [cargo, "run", "-q", "--manifest-path", str(manifest), "-p", "flags-cli", "--", *sys.argv[1:]],
    )
else:
    main()
