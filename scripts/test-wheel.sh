#!/usr/bin/env bash
# Tests what scripts/build-wheel.sh built, as a server would get it: each
# wheel is installed into a fresh virtualenv whose PATH has no cargo, no C
# compiler and no zig, and the package's tests run against that install (the
# console script and `python -m feature_flags` too, in tests/test_cli.py).
#
# - the manylinux wheel, on every CPython >= 3.10 found here (python3, and
#   pyenv's 3.10 / 3.12 / 3.13 when installed; absent ones are listed);
# - the sdist: unpacked by pip in a temporary folder and built there with only
#   cargo and cc (no zig, no build tools of ours), then tested the same way.
#
#   bash scripts/test-wheel.sh [WHEELHOUSE]    # default target/wheelhouse
set -euo pipefail
cd "$(dirname "$0")/.."

wheelhouse=${1:-target/wheelhouse}
venvs=target/wheel-venvs
nocc=target/nocc-bin
test_deps=(pytest prometheus_client xxhash openfeature-sdk python-telegram-bot)

wheel=$(ls "$wheelhouse"/feature_flags-*-cp310-abi3-manylinux*.whl)
sdist=$(ls "$wheelhouse"/feature_flags-*.tar.gz)

# The only tool the tests call besides the venv's own: promtool.
rm -rf "$nocc" "$venvs"
mkdir -p "$nocc" "$venvs"
if promtool=$(command -v promtool); then ln -s "$promtool" "$nocc/promtool"; fi

pythons=()
for version in 3.10 3.11 3.12 3.13; do
    found=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
        /usr/bin/python"$version" /usr/local/bin/python"$version"; do
        if [ -x "$candidate" ] && "$candidate" -c 'import venv' 2>/dev/null; then
            found=$candidate
            break
        fi
    done
    if [ -n "$found" ]; then
        pythons+=("$found")
    else
        echo "note: no CPython $version on this machine: the wheel is not tested on it"
    fi
done

# Installs $2 into a fresh venv of Python $1 named $3 and runs the tests
# there with a PATH of the venv and promtool only.
test_install() {
    local python=$1 wheel_file=$2 name=$3
    local venv=$venvs/$name
    printf '\n--- %s: %s on %s\n' "$name" "$(basename "$wheel_file")" "$("$python" --version)"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel_file" "${test_deps[@]}"
    (
        export PATH="$PWD/$venv/bin:$PWD/$nocc"
        for tool in cargo rustc cc gcc clang zig cargo-zigbuild; do
            if command -v "$tool" >/dev/null; then
                echo "error: $tool is on the test PATH" >&2
                exit 1
            fi
        done
        location=$(cd / && python -c 'import feature_flags; print(feature_flags.__file__)')
        case "$location" in
        "$PWD/$venv"/*) ;;
        *) echo "error: feature_flags imported from $location, not the install" >&2; exit 1 ;;
        esac
        feature_flags --version
        python -m feature_flags --version
        python -m pytest flags-ffi/python/tests -q -p no:cacheprovider
    )
}

for python in "${pythons[@]}"; do
    test_install "$python" "$wheel" "wheel-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
done

printf '\n--- sdist: build a wheel from %s with only cargo and cc\n' "$(basename "$sdist")"
builder=$venvs/sdist-builder
python3 -m venv "$builder"
sdist_wheels=target/wheelhouse-from-sdist
rm -rf "$sdist_wheels"
(
    # The toolchain a server with a compiler has: cargo (rustup's) and the
    # system's cc. cargo reuses target/'s builds of crates.io dependencies.
    export PATH="$PWD/$builder/bin:$HOME/.cargo/bin:/usr/bin:/bin"
    export CARGO_TARGET_DIR="$PWD/target"
    for tool in zig cargo-zigbuild; do
        if command -v "$tool" >/dev/null; then
            echo "error: $tool is on the sdist build's PATH" >&2
            exit 1
        fi
    done
    cd "$(mktemp -d)"
    tar xzf "$OLDPWD/$sdist"
    pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$OLDPWD/$sdist_wheels" ./feature_flags-*/
)
test_install python3 "$(ls "$sdist_wheels"/feature_flags-*-cp310-abi3-*.whl)" "sdist-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
