//! `include/feature_flags.h` is cbindgen's output for this crate, byte for
//! byte: an ABI change that is not in the committed header fails here.
//! Regenerate with `UPDATE_HEADER=1 cargo test -p flags-ffi --test header`.

use std::path::Path;

fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  committed: {x}\n  generated: {y}", i + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn committed_header_is_cbindgen_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/feature_flags.h");
    let generated = generate();
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with flags-ffi/src; first difference at {}\n\
         Regenerate it with: UPDATE_HEADER=1 cargo test -p flags-ffi --test header",
        path.display(),
        first_difference(&committed, &generated)
    );
}

/// The names C callers were promised in the draft contract, each with its
/// number: a rename or renumbering in src/ must fail loudly.
#[test]
fn header_keeps_the_contract_names_and_numbers() {
    let header = generate();
    let defines = [
        ("FF_OK", 0),
        ("FF_NULL_ARGUMENT", 1),
        ("FF_INVALID_UTF8", 2),
        ("FF_INVALID_ARGUMENT", 3),
        ("FF_FILE_ERROR", 4),
        ("FF_INVALID_FILE", 5),
        ("FF_CLOSED", 6),
        ("FF_BUFFER_TOO_SMALL", 7),
        ("FF_NO_FILE", 8),
        ("FF_PANIC", 9),
        ("FF_CHAT_TYPE_NONE", 0),
        ("FF_CHAT_TYPE_PRIVATE", 1),
        ("FF_CHAT_TYPE_GROUP", 2),
        ("FF_CHAT_TYPE_SUPERGROUP", 3),
        ("FF_CHAT_TYPE_CHANNEL", 4),
        ("FF_REASON_UNKNOWN_FLAG", 0),
        ("FF_REASON_DISABLED", 1),
        ("FF_REASON_CHAT_EXCLUDED", 2),
        ("FF_REASON_CHAT_TYPE", 3),
        ("FF_REASON_GROUP", 4),
        ("FF_REASON_ROLLOUT", 5),
        ("FF_REASON_MISSING_KEY", 6),
        ("FF_HAS_USER_ID", 1),
        ("FF_HAS_CHAT_ID", 2),
        ("FF_OPEN_NO_WATCH", 1),
        ("FF_OPEN_NO_COUNTING", 2),
    ];
    for (name, value) in defines {
        let line = format!("#define {name} {value}\n");
        assert!(header.contains(&line), "missing `{}`", line.trim());
    }
    let declarations = [
        "typedef uint32_t ff_status;",
        "typedef struct ff_store ff_store;",
        "typedef struct ff_str {\n  const char *ptr;\n  size_t len;\n} ff_str;",
        "char *ff_last_error(void);",
        "void ff_string_free(char *s);",
        "const char *ff_version(void);",
        "ff_status ff_store_open(const char *path, uint32_t options, struct ff_store **out);",
        "ff_status ff_store_from_json(const char *json, size_t len, struct ff_store **out);",
        "ff_status ff_store_close(struct ff_store *store);",
        "void ff_store_free(struct ff_store *store);",
        "ff_status ff_store_reload(const struct ff_store *store);",
        "ff_status ff_store_generation(const struct ff_store *store, uint64_t *out);",
        "ff_status ff_store_fingerprint(const struct ff_store *store, uint64_t *out);",
        "ff_status ff_store_last_reload_error(const struct ff_store *store, char **out);",
    ];
    for declaration in declarations {
        assert!(header.contains(declaration), "missing `{declaration}`");
    }
}
