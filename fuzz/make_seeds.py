#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/seeds/TARGET/): the example file,
the golden data's flag file, and small hostile shapes. Large hostile shapes
are made in code by the tests (flags-core/tests/common/mod.rs), not here.

Run from the repository root: python3 fuzz/make_seeds.py
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


golden = json.loads(read("flags-core/tests/data/evaluation_cases.json"))["file"]

files = {
    "example": read("examples/feature_flags.json"),
    "golden": json.dumps(golden, indent=2).encode(),
    "golden_compact": json.dumps(golden, separators=(",", ":")).encode(),
    "minimal": b'{"version": 1, "flags": {}}',
    "bom": b"\xef\xbb\xbf" + read("examples/feature_flags.json"),
    "nbsp": "\u00a0\u2028\x0b".encode(),
    "negative_zero": b'{"version": 1, "flags": {"f": {"enabled": true, "exclude_chats": [-0, "-0", 0, "007", -0.0]}}}',
    "percentages": b'{"version": 1, "flags": {"a": {"enabled": true, "rollout_percentage": 12.3450000000001}, "b": {"enabled": true, "rollout_percentage": 1e-13}, "c": {"enabled": false, "rollout_percentage": 33.333}, "d": {"enabled": true, "rollout_percentage": 0.012345e3}}}',
    "long_name_invalid_entries": ('{"version": 1, "flags": {"%s": {"enabled": true, "exclude_chats": [%s]}}}' % ("n" * 300, ",".join(["null"] * 150))).encode(),
    "long_unknown_key": ('{"version": 1, "flags": {"f": {"enabled": true, "%s": 1}}, "%s": 2}' % ("k" * 2000, "t" * 2000)).encode(),
    "long_strings": ('{"version": "%s", "flags": {"f": {"enabled": true, "bucket_by": "%s", "chat_types": ["%s"], "salt": ""}}}' % ("v" * 500, "b" * 500, "c" * 500)).encode(),
    "many_problems": ('{"version": 2, "flags": {%s}}' % ",".join('"f%d": {"enabled": 1, "rollout_percentage": 150, "nme": 1}' % i for i in range(60))).encode(),
    "deep_nesting": ('{"version": 1, "flags": {}, "groups": {"g": %s%s}}' % ("[" * 140, "]" * 140)).encode(),
    "nesting_at_the_limits": ('{"version": 1, "flags": {}, "x": %s1%s}' % ("[" * 99, "]" * 99)).encode(),
    "duplicate_keys": b'{"version": 1, "version": 1, "flags": {"a": {"enabled": true, "enabled": false}, "a": {"enabled": true}}, "groups": {"g": [1], "g": [2]}, "x": {"k": {"d": 1, "d": 2}, "k": 3}}',
    "wrong_types": b'{"version": 1.0, "flags": {"f": {"enabled": "yes", "rollout_percentage": "50", "user_groups": [1], "chat_types": "private", "exclude_chats": {"a": 1}, "bucket_by": 3, "salt": null, "description": []}}, "groups": []}',
    "escapes": b'{"version": 1, "flags": {"f\\u0030": {"enabled": true, "description": "caf\\u00e9 \\ud83d\\ude00 \\"q\\"", "salt": "\\n"}}}',
    "numbers": b'{"version": 1, "groups": {"g": [9223372036854775807, -9223372036854775808, 9223372036854775808, "-9223372036854775809", 1e2, 1.5, 18446744073709551616]}, "flags": {}}',
}

for name, data in files.items():
    assert len(data) < 16 * 1024, name


def write(target, name, data):
    folder = os.path.join(SEEDS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


valid = ["example", "golden", "golden_compact", "minimal", "bom", "escapes"]

for name, data in files.items():
    write("parse", name, data)

# edit: a 16-byte header choosing the edit, then the file.
headers = {
    "percentage": bytes([0x02 | 0x10, 0, 0, 0x39, 0x30, 0, 0, 0]) + struct.pack("<q", -1001234567890),
    "disable": bytes([0x02 | 0x08, 1, 0, 0, 0, 0, 0, 0]) + struct.pack("<q", 5),
    "exclude": bytes([0x02, 1, 0, 0, 0, 0, 3, 0]) + struct.pack("<q", -100500),
    "include": bytes([0x02, 1, 0, 0, 0, 0, 0, 3]) + struct.pack("<q", 7),
    "create": bytes([0x01 | 0x04 | 0x10, 0, 7, 0x88, 0x13, 0, 2, 0]) + struct.pack("<q", -42),
}
for file_name in valid:
    for edit_name, header in headers.items():
        assert len(header) == 16
        write("edit", "%s_%s" % (edit_name, file_name), header + files[file_name])

# ffi: how (1 byte), the JSON's length (2 bytes), the JSON, then calls.
def ffi(json_bytes, calls, how=4):
    return bytes([how]) + struct.pack("<H", len(json_bytes)) + json_bytes + calls


def call(name, op, groups=(), present=3, chat_type=1):
    out = struct.pack("<H", len(name)) + name + bytes([4, len(groups)])
    for g in groups:
        out += struct.pack("<H", len(g)) + g + bytes([0])
    out += struct.pack("<iBb", 123456789, 1, 0) + struct.pack("<iBb", -100123, 1, 0)
    return out + bytes([present, chat_type, 0, op])


every_op = b"".join(call(b"new_gpt_model", op, [b"beta_testers"]) for op in range(13)) + call(b"", 13) + call(b"x", 0)
for file_name in valid:
    write("ffi", file_name, ffi(files[file_name], every_op))
write("ffi", "invalid", ffi(files["many_problems"], b""))
write("ffi", "replace", ffi(files["example"], call(b"new_gpt_model", 7) + struct.pack("<H", len(files["golden"])) + files["golden"] + bytes([4])))
