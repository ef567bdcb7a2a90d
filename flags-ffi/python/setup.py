"""Build of the feature_flags package.

`pip install ./flags-ffi/python` runs this from the repository checkout
(pip builds local directories in place); an sdist carries a copy of the Rust
workspace in `rust/` and builds the same way. build_ext first runs cargo in
the workspace (`flags-ffi`'s static library and `flags-cli`'s `feature_flags`
binary), then compiles the C extension `feature_flags._native` over the
committed header against the stable ABI of CPython 3.10 (one `abi3` module
for every CPython from 3.10 on) and links it statically with
libflags_ffi.a, so the installed package has no shared library to find at
run time. The binary goes into the package (`feature_flags/bin/`), where the
`feature_flags` console script and `python -m feature_flags` run it.

Environment:
  CARGO                 the cargo executable (default: `cargo` on PATH, then ~/.cargo/bin)
  CARGO_TARGET_DIR      honoured by cargo; the default is the workspace's target/
  FEATURE_FLAGS_GLIBC   e.g. `2.17`: build a portable (manylinux) wheel. Compiles and
                        links everything with zig for that glibc version instead of the
                        machine's: cargo-zigbuild for the Rust code, `zig cc` for the
                        extension. Needs `cargo-zigbuild` and `ziglang` (PyPI) in the
                        build environment (`pip wheel --no-build-isolation`), or ZIG set
                        to a zig executable. `scripts/build-wheel.sh` does all of it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

PACKAGE_DIR = Path(__file__).resolve().parent
# An sdist carries the workspace in rust/; a checkout has it two levels up.
SDIST_WORKSPACE = PACKAGE_DIR / "rust"
WORKSPACE = (
    SDIST_WORKSPACE
    if (SDIST_WORKSPACE / "Cargo.toml").is_file()
    else PACKAGE_DIR.parent.parent  # flags-ffi/python -> flags-ffi -> workspace root
)
HEADER_DIR = WORKSPACE / "flags-ffi" / "include"
CLI_BINARY = "feature_flags"

# An sdist carries every member of the workspace (cargo loads them all, and
# --locked needs the lock file to stay as it is) and the workspace's own
# files: everything git tracks there, but this package.
WORKSPACE_FILES = ["Cargo.toml", "Cargo.lock", "LICENSE", "LICENSE-MIT", "LICENSE-APACHE"]


def workspace_members() -> list[str]:
    """The `members` of the workspace's Cargo.toml (tomllib is 3.11+ only)."""
    text = (WORKSPACE / "Cargo.toml").read_text(encoding="utf-8")
    found = re.search(r"^members\s*=\s*\[(.*?)\]", text, re.S | re.M)
    if found is None:
        raise BuildError("no workspace members in Cargo.toml")
    return re.findall(r'"([^"]+)"', found.group(1))


PORTABLE_GLIBC = os.environ.get("FEATURE_FLAGS_GLIBC", "").strip()

# What the Rust standard library needs from the system when linked
# statically (`rustc --print native-static-libs` for flags-ffi). With zig
# there is no libgcc_s to link: zig's bundled libunwind provides the
# unwinder (as cargo-zigbuild does for the binary).
if sys.platform.startswith("linux"):
    UNWINDER = "unwind" if PORTABLE_GLIBC else "gcc_s"
    SYSTEM_LIBRARIES = [UNWINDER, "util", "rt", "pthread", "m", "dl", "c"]
    # Export PyInit__native only, keeping the Rust symbols private to the
    # extension (a version script: zig's linker has no --exclude-libs), drop
    # unused code, and drop the standard library's DWARF (5 MB -> about 1 MB).
    EXTRA_LINK_ARGS = [
        f"-Wl,--version-script={PACKAGE_DIR / 'native' / 'exports.map'}",
        "-Wl,--gc-sections",
        "-Wl,--strip-debug",
    ]
elif sys.platform == "darwin":
    SYSTEM_LIBRARIES = ["System", "c", "m"]
    # The file watcher uses FSEvents.
    EXTRA_LINK_ARGS = [
        "-framework",
        "CoreServices",
        "-framework",
        "CoreFoundation",
        "-Wl,-dead_strip",
    ]
else:
    SYSTEM_LIBRARIES = []
    EXTRA_LINK_ARGS = []


class BuildError(Exception):
    pass


def find_cargo() -> str:
    candidates = [
        os.environ.get("CARGO"),
        shutil.which("cargo"),
        str(Path.home() / ".cargo" / "bin" / "cargo"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise BuildError(
        "cargo not found: install Rust (https://rustup.rs) or set CARGO to the cargo executable"
    )


def find_tool(name: str) -> str:
    """A tool on PATH or installed beside this Python (a virtualenv's bin/)."""
    beside = Path(sys.executable).parent / name
    found = shutil.which(name) or (str(beside) if beside.is_file() else None)
    if found is None:
        raise BuildError(f"{name} not found: pip install {name} (needed by FEATURE_FLAGS_GLIBC)")
    return found


def zig_command() -> list[str]:
    if os.environ.get("ZIG"):
        return [os.environ["ZIG"]]
    try:
        import ziglang  # noqa: F401  (PyPI's zig, run as `python -m ziglang`)
    except ImportError:
        zig = shutil.which("zig")
        if zig is None:
            raise BuildError(
                "zig not found: pip install ziglang (needed by FEATURE_FLAGS_GLIBC)"
            ) from None
        return [zig]
    return [sys.executable, "-m", "ziglang"]


def portable_targets() -> tuple[str, str]:
    """(Rust target, zig target) for FEATURE_FLAGS_GLIBC on this machine's CPU."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        platform.machine().lower()
    )
    if arch is None or not sys.platform.startswith("linux"):
        raise BuildError("FEATURE_FLAGS_GLIBC builds on x86_64 or aarch64 Linux only")
    return f"{arch}-unknown-linux-gnu.{PORTABLE_GLIBC}", f"{arch}-linux-gnu.{PORTABLE_GLIBC}"


def build_rust() -> tuple[Path, Path]:
    """Runs cargo; returns the paths of libflags_ffi.a and the feature_flags binary."""
    if not (WORKSPACE / "Cargo.toml").is_file() or not (HEADER_DIR / "feature_flags.h").is_file():
        raise BuildError(
            f"the Rust workspace was not found at {WORKSPACE}: build from a checkout of the "
            "repository (pip install ./flags-ffi/python) or from the sdist, not from a copy "
            "of this folder"
        )
    if PORTABLE_GLIBC:
        rust_target, _ = portable_targets()
        command = [find_tool("cargo-zigbuild"), "zigbuild", "--target", rust_target]
    else:
        command = [find_cargo(), "build"]
    command += [
        "--release",
        "--locked",
        "-p",
        "flags-ffi",
        "--lib",
        "-p",
        "flags-cli",
        "--bin",
        CLI_BINARY,
        "--message-format=json-render-diagnostics",
    ]
    print("running", " ".join(command), "in", WORKSPACE, flush=True)
    # stdout carries cargo's JSON messages; its diagnostics go to stderr.
    result = subprocess.run(command, cwd=WORKSPACE, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise BuildError(f"cargo build failed with exit code {result.returncode}")
    library = binary = None
    for line in result.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        name = message.get("target", {}).get("name")
        if name == "flags_ffi":
            for filename in message.get("filenames", []):
                if filename.endswith(".a") and Path(filename).is_file():
                    library = Path(filename)
        elif name == CLI_BINARY and message.get("executable"):
            binary = Path(message["executable"])
    if library is None or binary is None:
        raise BuildError(
            "cargo build succeeded but did not report both libflags_ffi.a and the "
            f"{CLI_BINARY} binary"
        )
    return library, binary


class BuildExtWithCargo(build_ext):
    """build_ext that first builds the Rust static library the extension links
    and puts the command-line tool into the package."""

    def build_extensions(self) -> None:
        if PORTABLE_GLIBC:
            # zig as the C compiler and linker, with its own glibc stubs of the
            # chosen version, so the module needs nothing newer from the system.
            _, zig_target = portable_targets()
            cc = [*zig_command(), "cc", "-target", zig_target]
            base_flags = ["-fPIC", "-O3", "-DNDEBUG", "-fwrapv"]
            self.compiler.set_executables(
                compiler=cc + base_flags,
                compiler_so=cc + base_flags,
                linker_so=[*cc, "-shared"],
            )
        super().build_extensions()

    def build_extension(self, ext: Extension) -> None:
        if sys.platform == "win32":
            raise BuildError("feature_flags builds on Linux and macOS only")
        library, binary = build_rust()
        ext.extra_objects = [str(library)]
        # Relink whenever cargo produced a newer library.
        ext.depends = [*ext.depends, str(library)]
        # A module left in the build folder by an earlier build for one
        # interpreter (_native.cpython-311-...so) would be packaged too and,
        # found first, shadow the abi3 one.
        module = Path(self.get_ext_fullpath(ext.name))
        for stale in module.parent.glob("_native.*"):
            if stale.suffix in (".so", ".pyd") and stale.name != module.name:
                stale.unlink()
        super().build_extension(ext)
        # Beside the module, in the built package: feature_flags/bin/feature_flags.
        bin_dir = module.parent / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, bin_dir / CLI_BINARY)
        (bin_dir / CLI_BINARY).chmod(0o755)


class SdistWithWorkspace(sdist):
    """An sdist that also carries the Rust workspace (in rust/), so that it
    builds with only cargo and a C compiler, away from the repository."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "rust"
        for relative in workspace_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(WORKSPACE / relative, destination)


def workspace_files() -> list[str]:
    """The workspace files an sdist needs, relative to the workspace root."""
    if WORKSPACE == SDIST_WORKSPACE:  # an sdist made from an unpacked sdist
        return sorted(
            str(path.relative_to(WORKSPACE))
            for path in WORKSPACE.rglob("*")
            if path.is_file() and "target" not in path.relative_to(WORKSPACE).parts
        )
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *WORKSPACE_FILES, *workspace_members()],
        cwd=WORKSPACE,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout.decode()
    package = PACKAGE_DIR.relative_to(WORKSPACE).as_posix() + "/"
    files = [name for name in listed.split("\0") if name and not name.startswith(package)]
    missing = [name for name in ["Cargo.toml", "Cargo.lock"] if name not in files]
    if missing:
        raise BuildError(f"the sdist needs {missing}, which git does not track")
    return files


NATIVE_SOURCES = [
    "args.c",
    "decision.c",
    "errors.c",
    "limited.c",
    "message.c",
    "module.c",
    "store.c",
]

native = Extension(
    "feature_flags._native",
    sources=[f"native/{name}" for name in NATIVE_SOURCES],
    include_dirs=[str(HEADER_DIR), "native"],
    depends=[str(HEADER_DIR / "feature_flags.h"), "native/native.h", "native/exports.map"],
    libraries=SYSTEM_LIBRARIES,
    # The stable ABI of CPython 3.10 (native.h, included first by every
    # source, defines Py_LIMITED_API): the module is named _native.abi3.so
    # and loads on any CPython >= 3.10.
    py_limited_api=True,
    # -flto inlines the argument checks (args.c) into the methods (store.c):
    # about 10 ns of a 90 ns is_enabled. An undeclared function is an error:
    # it is how a call outside the limited API shows up.
    extra_compile_args=[
        "-fvisibility=hidden",
        "-flto",
        "-Wall",
        "-Wextra",
        "-Werror=implicit-function-declaration",
    ],
    extra_link_args=["-flto", *EXTRA_LINK_ARGS],
)

OPTIONS: dict[str, dict[str, str]] = {
    # Tag the wheel cp310-abi3: one wheel for every CPython >= 3.10.
    "bdist_wheel": {"py_limited_api": "cp310"},
}
if PORTABLE_GLIBC:
    # Objects from the machine's compiler (gcc LTO bytecode, newer glibc
    # headers) must never be reused by the zig build, nor the other way round.
    OPTIONS["build"] = {"build_base": f"build/glibc{PORTABLE_GLIBC}"}

setup(
    ext_modules=[native],
    cmdclass={"build_ext": BuildExtWithCargo, "sdist": SdistWithWorkspace},
    options=OPTIONS,
)
