/* feature_flags._native: the CPython extension over the flags-ffi C ABI.
 *
 * Why C and not ctypes/cffi: a bot asks several flags per message, so the
 * per-call overhead is the product. ctypes costs ~670 ns a call and silently
 * wraps out-of-range integers; cffi ~185 ns before any argument checks. A
 * METH_FASTCALL method parses its arguments without building a tuple or dict
 * and checks them in C, so a call costs about as much as one Python function
 * call.
 *
 * Every argument is checked here (args.c), before it reaches the C ABI: the
 * ABI is never handed anything it could reject, so its argument errors mean
 * a bug.
 *
 * The GIL is held during evaluations (is_enabled, evaluate, for_message):
 * they take well under a microsecond and never block on a reload. Releasing
 * it around the native call measured 87 -> 122 ns per is_enabled on one
 * thread, with no throughput gain for 2 or 4 threads. Calls that touch the
 * disk or join the watcher thread (open, reload, close, dealloc) release it,
 * so other threads and the event loop keep running; so does metrics_text,
 * which renders every flag's counters into a new string.
 *
 * The Rust library is linked statically, so there is no shared library to
 * find at run time and nothing to override.
 *
 * Files: errors.c (exceptions), args.c (argument checks, the ff_context),
 * decision.c (Decision), message.c (Message), store.c (FlagStore),
 * module.c (module init). Single-phase init: one interpreter.
 *
 * Stable ABI: the extension is compiled against the limited API of CPython
 * 3.10 (Py_LIMITED_API below), so one abi3 wheel serves every CPython from
 * 3.10 on. That rules out static PyTypeObjects (the types are heap types made
 * from specs in module init), tp_name and the PyTuple_GET_ITEM family of
 * macros; the inline helpers below replace them. METH_FASTCALL|METH_KEYWORDS
 * is in the limited API since 3.10, so the calling convention is unchanged. */

#ifndef FEATURE_FLAGS_NATIVE_H
#define FEATURE_FLAGS_NATIVE_H

#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030A0000 /* CPython 3.10: the oldest supported */
#endif
#include <Python.h>

/* CPython 3.12's headers define these as a bare `return Py_None` (the
 * objects are immortal there) even under a limited API of 3.10, so an abi3
 * extension built with them drops a reference per call on 3.10 and 3.11
 * (a crash once True, False or None runs out). Returning a new reference
 * is right on every version. */
#undef Py_RETURN_NONE
#undef Py_RETURN_TRUE
#undef Py_RETURN_FALSE
#define Py_RETURN_NONE return Py_NewRef(Py_None)
#define Py_RETURN_TRUE return Py_NewRef(Py_True)
#define Py_RETURN_FALSE return Py_NewRef(Py_False)

#include <stdbool.h>
#include <stdint.h>

#include "feature_flags.h"

/* ---- limited-API helpers ------------------------------------------------ */

/* PyUnicode_Check and PyLong_Check read tp_flags, which the limited API
 * reaches only through a function call (PyType_GetFlags); the exact type,
 * by far the common case, is a pointer comparison. */
static inline int is_str(PyObject *value) {
    return Py_TYPE(value) == &PyUnicode_Type || PyUnicode_Check(value);
}

static inline int is_int(PyObject *value) {
    return Py_TYPE(value) == &PyLong_Type || PyLong_Check(value);
}

/* Tuples (a vectorcall's keyword names, groups): the limited API has no
 * PyTuple_GET_SIZE/PyTuple_GET_ITEM macros, only the checked functions.
 * Measured on is_enabled with three keywords: 79 ns with these calls, 75.5
 * ns reading the tuple's memory directly (and 75 ns for the old non-limited
 * build). The direct read is not taken: it assumes PyTupleObject's layout,
 * which is outside the stable ABI and not promised to stay. */
static inline Py_ssize_t tuple_size(PyObject *tuple) {
    return PyTuple_Size(tuple);
}

static inline PyObject *tuple_item(PyObject *tuple, Py_ssize_t index) {
    return PyTuple_GetItem(tuple, index); /* borrowed */
}

/* The name of value's type, for error messages (tp_name is not in the
 * limited API, PyType_GetName only from 3.11): a new reference, or NULL
 * with no error set. Use with %V, e.g.
 *     RAISE_FOR_TYPE(PyExc_TypeError, "x must be an int, not %V", value); */
PyObject *type_name_of(PyObject *value);
#define RAISE_FOR_TYPE(exception, format, value)                                              \
    do {                                                                                       \
        PyObject *type_name_ = type_name_of(value);                                            \
        PyErr_Format((exception), (format), type_name_, "?");                                  \
        Py_XDECREF(type_name_);                                                                \
    } while (0)

/* Frees an instance of one of the module's heap types (tp_dealloc's last
 * step): PyObject_Free, their tp_free, then the instance's reference to its
 * type. */
void free_instance(PyObject *self);

/* ---- errors.c ------------------------------------------------------------ */

extern PyObject *FlagFileError;
extern PyObject *ClosedError;

int errors_init(void);
/* Raises the exception for a failed status, with the C ABI's thread-local
 * error text: call right after the failing call, on the same thread. */
PyObject *raise_status(ff_status status);
/* The same with error text already taken from ff_last_error (owned; may be
 * NULL), for calls made without the GIL. */
PyObject *raise_with_text(ff_status status, char *error_text);
PyObject *raise_closed(void);

/* Sets `status` to `call`, run without the GIL (so it must not touch a
 * Python object: copy what it needs first), and when it fails sets
 * `error_text` to the C ABI's error text for raise_with_text, taken on the
 * same thread before anything else can replace it. For the calls that read
 * the disk, join the watcher thread or wait on a reload's lock. */
#define CALL_WITHOUT_GIL(status, error_text, call)                                            \
    do {                                                                                       \
        Py_BEGIN_ALLOW_THREADS                                                                 \
        (status) = (call);                                                                     \
        if ((status) != FF_OK) {                                                               \
            (error_text) = ff_last_error();                                                    \
        }                                                                                      \
        Py_END_ALLOW_THREADS                                                                   \
    } while (0)

/* ---- args.c -------------------------------------------------------------- */

/* Parameters of is_enabled, evaluate and for_message, in signature order. */
enum { ARG_NAME, ARG_USER_ID, ARG_CHAT_ID, ARG_CHAT_TYPE, ARG_GROUPS, ARG_DEFAULT, ARG_COUNT };

/* Group names passed without allocating; more cost one PyMem_Malloc. */
#define INLINE_GROUPS 8

/* The context of one call, with the storage its groups borrow. */
typedef struct {
    ff_context ctx;
    PyObject *group_seq; /* owned: keeps the group strings (and their UTF-8) alive */
    ff_str *group_heap;  /* owned, when more than INLINE_GROUPS */
    ff_str group_inline[INLINE_GROUPS];
} context_buf;

/* The last keyword names a function parsed, with where each went: a call
 * site passes the same tuple (a constant of its code) every time, so a
 * repeated call skips reading the tuple and comparing names (each a
 * function call under the limited API). One per function, under the GIL. */
typedef struct {
    PyObject *kwnames; /* owned, or NULL */
    Py_ssize_t nargs;
    int nkw;
    int8_t slot[ARG_COUNT];
    int8_t pending[ARG_COUNT];
} kw_cache;

/* An empty context; the inline group storage is left unset (zeroing it
 * costs a few ns per call, and only the entries read_groups fills are read). */
static inline void context_init(context_buf *buf) {
    buf->ctx.user_id = 0;
    buf->ctx.chat_id = 0;
    buf->ctx.present = 0;
    buf->ctx.chat_type = 0;
    buf->ctx.groups = NULL;
    buf->ctx.groups_len = 0;
    buf->group_seq = NULL;
    buf->group_heap = NULL;
}

int args_init(void);
/* Fills slots[params[i]] from a vectorcall argument list for a def whose
 * parameters are params (ARG_*, in order; `name`, when first, is required).
 * Unset slots stay NULL. Raises the TypeErrors Python would. `cache` may be
 * NULL. */
int parse_args(const char *function, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const int *params, int param_count, PyObject **slots, kw_cache *cache);

/* A new reference to True or False, inline (PyBool_FromLong is a call). */
static inline PyObject *bool_ref(int value) {
    return Py_NewRef(value ? Py_True : Py_False);
}
int read_name(PyObject *value, const char **ptr, size_t *len);
int read_default(PyObject *value, bool *out);
/* user_id, chat_id, chat_type and groups from their slots; on success the
 * caller releases the buffer after the native call. With copy_groups the
 * groups are read from a copy the buffer owns (see read_groups), which stays
 * valid while Python code runs. */
int read_context(PyObject **slots, context_buf *buf, bool copy_groups);
void context_release(context_buf *buf);

/* ---- decision.c ---------------------------------------------------------- */

extern PyTypeObject *DecisionType;

int decision_init(void);
PyObject *make_decision(bool enabled, uint8_t reason, bool has_bucket, uint32_t bucket);

/* ---- message.c ----------------------------------------------------------- */

extern PyTypeObject *MessageType;

/* The flag names of one version of the file: a dict name -> bit index, and
 * an open-addressing table of the same names keyed by the str object's
 * address. The dict's keys are interned, and so are the literal names a
 * bot's code passes, so a check finds its bit by comparing one or two
 * pointers, without PyDict_GetItemWithError and PyLong_AsSsize_t (each a
 * call under the limited API); an equal str that is another object falls
 * back to the dict. Immutable once made; shared by the store and messages. */
typedef struct {
    PyObject *name; /* borrowed from `dict`; NULL for an empty slot */
    Py_ssize_t index;
} name_slot;

typedef struct {
    PyObject_VAR_HEAD
    PyObject *dict; /* owned: interned str -> int */
    uint64_t generation;
    size_t mask;         /* Py_SIZE(self) - 1, a power of two minus one */
    name_slot slots[1];  /* Py_SIZE(self) slots */
} NamesObject;

/* Names over `dict` (its keys interned str, values their bit index; the
 * names take the reference), of `generation`; NULL with an exception set. */
NamesObject *names_new(PyObject *dict, Py_ssize_t count, uint64_t generation);

int message_init(void);

/* A Message over `bits` (enough words for flag_count) and the names of the
 * same generation (borrowed; the message takes a reference), owning
 * `native` (begun and evaluated on that generation; given back to `store`
 * even on failure) and keeping the context (read with copy_groups: the
 * message copies it and takes over context->group_seq; the caller still
 * releases `context`) for evaluate(). */
PyObject *message_new(PyObject *store, ff_message *native, context_buf *context,
                      NamesObject *names, uint64_t generation, size_t flag_count,
                      const uint64_t *bits);

/* ---- store.c ------------------------------------------------------------- */

extern PyTypeObject *FlagStoreType;

int store_init(void);

/* Takes back a message's native object for reuse by a later for_message
 * (or frees it); `store` is the FlagStore it came from. */
void store_release_message(PyObject *store, ff_message *native);

#endif
