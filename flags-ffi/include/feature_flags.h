/* DRAFT CONTRACT (hand-written): flags-ffi's cbindgen output replaces this file.
 * Names, numbers and signatures below are fixed; additions are allowed. */
#ifndef FEATURE_FLAGS_H
#define FEATURE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status of every call. Numbers are stable. */
typedef uint32_t ff_status;
#define FF_OK 0
#define FF_NULL_ARGUMENT 1      /* a required pointer was NULL */
#define FF_INVALID_UTF8 2       /* a string argument was not UTF-8 */
#define FF_INVALID_ARGUMENT 3   /* e.g. chat type out of range, bad handle */
#define FF_FILE_ERROR 4         /* the flag file could not be read */
#define FF_INVALID_FILE 5       /* the flag file was read but is invalid */
#define FF_CLOSED 6             /* the store was closed */
#define FF_BUFFER_TOO_SMALL 7   /* out buffer too short; required size reported */
#define FF_NO_FILE 8            /* reload() on a store made from JSON text */
#define FF_PANIC 9              /* a bug: Rust panicked; the process lives on */

/* Chat type of a message. Numbers are stable. */
#define FF_CHAT_TYPE_NONE 0
#define FF_CHAT_TYPE_PRIVATE 1
#define FF_CHAT_TYPE_GROUP 2
#define FF_CHAT_TYPE_SUPERGROUP 3
#define FF_CHAT_TYPE_CHANNEL 4

/* Reason of a decision (SPEC.md "Evaluation"). Numbers are stable. */
#define FF_REASON_UNKNOWN_FLAG 0
#define FF_REASON_DISABLED 1
#define FF_REASON_CHAT_EXCLUDED 2
#define FF_REASON_CHAT_TYPE 3
#define FF_REASON_GROUP 4
#define FF_REASON_ROLLOUT 5
#define FF_REASON_MISSING_KEY 6

/* Bits of ff_context.present */
#define FF_HAS_USER_ID 1
#define FF_HAS_CHAT_ID 2

/* Bits of ff_store_open's options */
#define FF_OPEN_NO_WATCH 1

typedef struct ff_store ff_store;   /* opaque */

/* A borrowed UTF-8 string: ptr may be NULL only when len is 0. */
typedef struct ff_str {
  const char *ptr;
  size_t len;
} ff_str;

/* One message. Borrowed for the duration of a call only. */
typedef struct ff_context {
  int64_t user_id;          /* valid when present & FF_HAS_USER_ID */
  int64_t chat_id;          /* valid when present & FF_HAS_CHAT_ID */
  uint32_t present;
  uint32_t chat_type;       /* FF_CHAT_TYPE_* */
  const ff_str *groups;     /* may be NULL when groups_len is 0 */
  size_t groups_len;
} ff_context;

typedef struct ff_decision {
  bool enabled;
  uint8_t reason;           /* FF_REASON_* */
  bool has_bucket;
  uint32_t bucket;          /* valid when has_bucket */
} ff_decision;

/* Thread-local text of the last failed call on this thread, or NULL.
 * Owned by the caller: free with ff_string_free. */
char *ff_last_error(void);
void ff_string_free(char *s);
/* Static, NUL-terminated; never free. */
const char *ff_version(void);

ff_status ff_store_open(const char *path /* NUL-terminated */, uint32_t options, ff_store **out);
ff_status ff_store_from_json(const char *json, size_t len, ff_store **out);
/* Stops watching; later calls return FF_CLOSED. Safe while other threads call. */
ff_status ff_store_close(ff_store *store);
/* Frees the store. NULL is a no-op. No other thread may use it during or after. */
void ff_store_free(ff_store *store);

ff_status ff_store_is_enabled(const ff_store *store, const char *name, size_t name_len,
                              const ff_context *ctx, bool default_value, bool *out);
ff_status ff_store_evaluate(const ff_store *store, const char *name, size_t name_len,
                            const ff_context *ctx, ff_decision *out);
ff_status ff_store_handle(const ff_store *store, const char *name, size_t name_len,
                          uint32_t *out_handle);
ff_status ff_store_evaluate_handle(const ff_store *store, uint32_t handle,
                                   const ff_context *ctx, ff_decision *out);
ff_status ff_store_evaluate_handles(const ff_store *store, const uint32_t *handles, size_t len,
                                    const ff_context *ctx, ff_decision *out /* len entries */);
/* Every flag, in file order, as bits: flag i is on iff out_bits[i/64] >> (i%64) & 1.
 * *out_flag_count and *out_generation are always written (when non-NULL) from the
 * same snapshot; FF_BUFFER_TOO_SMALL if out_words * 64 < flag count. */
ff_status ff_store_evaluate_all(const ff_store *store, const ff_context *ctx,
                                uint64_t *out_bits, size_t out_words,
                                size_t *out_flag_count, uint64_t *out_generation);
/* Flag names in file order, '\n'-separated, with the generation they belong to.
 * *out is owned by the caller: free with ff_string_free. */
ff_status ff_store_flag_names(const ff_store *store, char **out, uint64_t *out_generation);

ff_status ff_store_reload(const ff_store *store);
ff_status ff_store_generation(const ff_store *store, uint64_t *out);
ff_status ff_store_fingerprint(const ff_store *store, uint64_t *out);
/* Text of the last failed reload, or NULL (*out) when the last load succeeded.
 * Owned by the caller: free with ff_string_free. */
ff_status ff_store_last_reload_error(const ff_store *store, char **out);

#endif
