/* FlagStore: one loaded, watched flag file. */

#include "native.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Flags evaluated by for_message without allocating: 8 words = 512 flags. */
#define INLINE_WORDS 8
/* Flag names whose handle is kept, per store: a power of two, at most half
 * used (a bot asks about a few dozen flags). */
#define HANDLE_SLOTS 256
#define MAX_HANDLES (HANDLE_SLOTS / 2)
/* Native message objects kept for reuse: for_message then allocates nothing
 * natively. Each keeps the version of the file it last saw until reused. */
#define MESSAGE_POOL 16

/* is_enabled and evaluate: (name, user_id, chat_id, chat_type, groups, default). */
static const int FLAG_PARAMS[ARG_COUNT] = {ARG_NAME,      ARG_USER_ID, ARG_CHAT_ID,
                                           ARG_CHAT_TYPE, ARG_GROUPS,  ARG_DEFAULT};
/* for_message: (user_id, chat_id, chat_type, groups). */
static const int MESSAGE_PARAMS[4] = {ARG_USER_ID, ARG_CHAT_ID, ARG_CHAT_TYPE, ARG_GROUPS};

typedef struct {
    PyObject *name; /* owned; NULL for an empty slot */
    uint32_t handle;
} handle_slot;

typedef struct {
    PyObject_HEAD
    ff_store *store;           /* owned; freed in dealloc */
    int closed;
    PyObject *path;            /* str, or None for from_json */
    NamesObject *names;        /* of the last version a message saw, or NULL */
    ff_message *pool[MESSAGE_POOL]; /* owned; for for_message, under the GIL */
    int pool_len;
    /* Interned flag name (owned) -> its handle (ff_store_handle), keyed by
     * the str's address: is_enabled("literal") then skips the name's UTF-8
     * check and lookup natively. NULL until the first flag is cached. */
    handle_slot *handles;
    int handles_used;
} FlagStoreObject;

static FlagStoreObject *store_alloc(PyTypeObject *type, ff_store *store, PyObject *path) {
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    FlagStoreObject *self = (FlagStoreObject *)alloc(type, 0);
    if (self == NULL) {
        Py_BEGIN_ALLOW_THREADS
        ff_store_free(store);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    self->store = store;
    self->closed = 0;
    Py_INCREF(path);
    self->path = path;
    self->names = NULL;
    self->pool_len = 0;
    self->handles = NULL;
    self->handles_used = 0;
    return self;
}

/* A native message object for for_message: from the pool, or new. */
static ff_message *store_take_message(FlagStoreObject *self) {
    if (self->pool_len > 0) {
        return self->pool[--self->pool_len];
    }
    ff_message *native = NULL;
    ff_status status = ff_message_new(&native);
    if (status != FF_OK) {
        raise_status(status);
        return NULL;
    }
    return native;
}

void store_release_message(PyObject *store, ff_message *native) {
    FlagStoreObject *self = (FlagStoreObject *)store;
    if (!self->closed && self->pool_len < MESSAGE_POOL) {
        self->pool[self->pool_len++] = native;
    } else {
        ff_message_free(native);
    }
}

static void store_drain_pool(FlagStoreObject *self) {
    while (self->pool_len > 0) {
        ff_message_free(self->pool[--self->pool_len]);
    }
}

static PyObject *store_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"path", "watch", "count_decisions", "count_outcomes", NULL};
    PyObject *path_bytes = NULL;
    int watch = 1;
    int count_decisions = 1;
    int count_outcomes = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|$ppp:FlagStore", keywords,
                                     PyUnicode_FSConverter, &path_bytes, &watch,
                                     &count_decisions, &count_outcomes)) {
        return NULL;
    }
    PyObject *path = PyUnicode_DecodeFSDefaultAndSize(PyBytes_AsString(path_bytes),
                                                      PyBytes_Size(path_bytes));
    if (path == NULL) {
        Py_DECREF(path_bytes);
        return NULL;
    }
    ff_store *store = NULL;
    ff_status status;
    char *error_text = NULL;
    const char *path_c = PyBytes_AsString(path_bytes);
    uint32_t options = (watch ? 0u : FF_OPEN_NO_WATCH) |
                       (count_decisions ? 0u : FF_OPEN_NO_COUNTING) |
                       (count_outcomes ? 0u : FF_OPEN_NO_OUTCOMES);
    CALL_WITHOUT_GIL(status, error_text, ff_store_open(path_c, options, &store));
    Py_DECREF(path_bytes);
    if (status != FF_OK) {
        Py_DECREF(path);
        return raise_with_text(status, error_text);
    }
    FlagStoreObject *self = store_alloc(type, store, path);
    Py_DECREF(path);
    return (PyObject *)self;
}

static PyObject *store_from_json(PyObject *cls, PyObject *text) {
    const char *data;
    Py_ssize_t size;
    if (is_str(text)) {
        data = PyUnicode_AsUTF8AndSize(text, &size);
        if (data == NULL) {
            return NULL;
        }
    } else if (PyBytes_Check(text)) {
        data = PyBytes_AsString(text);
        size = PyBytes_Size(text);
    } else {
        RAISE_FOR_TYPE(PyExc_TypeError, "from_json() needs a str or bytes, not %V", text);
        return NULL;
    }
    ff_store *store = NULL;
    ff_status status = ff_store_from_json(data, (size_t)size, &store);
    if (status != FF_OK) {
        return raise_status(status);
    }
    return (PyObject *)store_alloc((PyTypeObject *)cls, store, Py_None);
}

static void store_dealloc(FlagStoreObject *self) {
    ff_store *store = self->store;
    self->store = NULL;
    if (store != NULL) {
        /* Joins the watcher thread, which never needs the GIL. */
        Py_BEGIN_ALLOW_THREADS
        ff_store_free(store);
        Py_END_ALLOW_THREADS
    }
    store_drain_pool(self);
    if (self->handles != NULL) {
        for (int i = 0; i < HANDLE_SLOTS; i++) {
            Py_XDECREF(self->handles[i].name);
        }
        PyMem_Free(self->handles);
    }
    Py_XDECREF(self->path);
    Py_XDECREF(self->names);
    free_instance((PyObject *)self);
}

static inline size_t handle_hash(const PyObject *name) {
    return (size_t)((((uint64_t)(uintptr_t)name >> 4) * 0x9E3779B97F4A7C15ull) >> 32) &
           (HANDLE_SLOTS - 1);
}

/* The cached handle of `name` (by identity), or -1. */
static inline int64_t cached_handle(FlagStoreObject *self, PyObject *name) {
    if (self->handles == NULL) {
        return -1;
    }
    for (size_t i = handle_hash(name);; i = (i + 1) & (HANDLE_SLOTS - 1)) {
        PyObject *key = self->handles[i].name;
        if (key == name) {
            return self->handles[i].handle;
        }
        if (key == NULL) {
            return -1;
        }
    }
}

/* After `name` was evaluated by name and the file defines it: keeps its
 * handle for the next call with the same str object. Only interned names
 * are kept (a literal is interned; an equal str made at run time is looked
 * up as its interned twin and never kept itself), so the cache holds each
 * flag name once whatever the caller passes, and at most MAX_HANDLES.
 * Failing to cache is not an error: the call already has its answer. */
static void cache_handle(FlagStoreObject *self, PyObject *name, const char *utf8, size_t len) {
    if (self->handles_used >= MAX_HANDLES || Py_TYPE(name) != &PyUnicode_Type) {
        return;
    }
    if (self->handles == NULL) {
        self->handles = PyMem_Calloc(HANDLE_SLOTS, sizeof(handle_slot));
        if (self->handles == NULL) {
            return;
        }
    }
    PyObject *interned = Py_NewRef(name);
    PyUnicode_InternInPlace(&interned);
    if (cached_handle(self, interned) >= 0) {
        Py_DECREF(interned); /* cached already: `name` is an equal copy */
        return;
    }
    /* ff_store_handle takes a lock a reload holds while it compiles the
     * file: without the GIL, so the event loop never waits on it. */
    uint32_t handle = 0;
    ff_status status;
    char *error_text = NULL;
    ff_store *store = self->store;
    CALL_WITHOUT_GIL(status, error_text, ff_store_handle(store, utf8, len, &handle));
    ff_string_free(error_text); /* not an error: the call has its answer */
    /* Another thread may have cached names meanwhile: look again. */
    if (status != FF_OK || self->handles_used >= MAX_HANDLES ||
        cached_handle(self, interned) >= 0) {
        Py_DECREF(interned);
        return;
    }
    size_t i = handle_hash(interned);
    while (self->handles[i].name != NULL) {
        i = (i + 1) & (HANDLE_SLOTS - 1);
    }
    self->handles[i].name = interned; /* the reference taken above */
    self->handles[i].handle = handle;
    self->handles_used++;
}

/* One flag's decision for is_enabled and evaluate: by the cached handle of
 * the name object when there is one, else by name (then caching it).
 * Returns whether the flag is on (1 or 0, the caller's default for an
 * unknown flag), or -1 with an exception set. */
static int decide_flag(FlagStoreObject *self, const char *function, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames, kw_cache *cache,
                       ff_decision *decision) {
    PyObject *slots[ARG_COUNT] = {NULL};
    if (parse_args(function, args, nargs, kwnames, FLAG_PARAMS, ARG_COUNT, slots, cache) < 0) {
        return -1;
    }
    if (self->closed) {
        raise_closed();
        return -1;
    }
    PyObject *name = slots[ARG_NAME];
    int64_t handle = cached_handle(self, name);
    const char *utf8 = NULL;
    size_t len = 0;
    bool default_value = false;
    /* A cached name is a str: it cannot fail read_name. */
    if ((handle < 0 && read_name(name, &utf8, &len) < 0) ||
        read_default(slots[ARG_DEFAULT], &default_value) < 0) {
        return -1;
    }
    context_buf buf;
    context_init(&buf);
    /* In place: the native call follows with no Python code in between. */
    if (read_context(slots, &buf, false) < 0) {
        return -1;
    }
    ff_status status =
        handle >= 0 ? ff_store_evaluate_handle(self->store, (uint32_t)handle, &buf.ctx, decision)
                    : ff_store_evaluate(self->store, utf8, len, &buf.ctx, decision);
    context_release(&buf);
    if (status != FF_OK) {
        raise_status(status);
        return -1;
    }
    if (handle < 0 && decision->reason != FF_REASON_UNKNOWN_FLAG) {
        cache_handle(self, name, utf8, len);
    }
    /* The spec's step 1: an unknown flag answers with the caller's default. */
    return decision->reason == FF_REASON_UNKNOWN_FLAG ? default_value : decision->enabled;
}

static PyObject *store_is_enabled(FlagStoreObject *self, PyObject *const *args,
                                  Py_ssize_t nargs, PyObject *kwnames) {
    static kw_cache cache;
    ff_decision decision;
    int enabled = decide_flag(self, "is_enabled", args, nargs, kwnames, &cache, &decision);
    if (enabled < 0) {
        return NULL;
    }
    return bool_ref(enabled);
}

static PyObject *store_evaluate(FlagStoreObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    static kw_cache cache;
    ff_decision decision;
    int enabled = decide_flag(self, "evaluate", args, nargs, kwnames, &cache, &decision);
    if (enabled < 0) {
        return NULL;
    }
    return make_decision(enabled != 0, decision.reason, decision.has_bucket, decision.bucket);
}

/* The names of the version `native` began on, a new reference. Allocates,
 * so it may run Python code (a collection, finalizers, gc.callbacks): call
 * it only once the message is evaluated. */
static NamesObject *names_of(ff_message *native) {
    char *text = NULL;
    uint64_t generation = 0;
    ff_status status = ff_message_flag_names(native, &text, &generation);
    if (status != FF_OK) {
        raise_status(status);
        return NULL;
    }
    PyObject *names = PyDict_New();
    if (names == NULL) {
        ff_string_free(text);
        return NULL;
    }
    const char *cursor = text != NULL ? text : "";
    Py_ssize_t index = 0;
    while (*cursor != '\0') {
        const char *end = strchr(cursor, '\n');
        size_t len = end != NULL ? (size_t)(end - cursor) : strlen(cursor);
        PyObject *name = PyUnicode_DecodeUTF8(cursor, (Py_ssize_t)len, "strict");
        PyObject *bit = name != NULL ? PyLong_FromSsize_t(index) : NULL;
        if (bit == NULL) {
            Py_XDECREF(name);
            Py_DECREF(names);
            ff_string_free(text);
            return NULL;
        }
        /* Interned keys make lookups by literal names an identity hit. */
        PyUnicode_InternInPlace(&name);
        int failed = PyDict_SetItem(names, name, bit);
        Py_DECREF(name);
        Py_DECREF(bit);
        if (failed < 0) {
            Py_DECREF(names);
            ff_string_free(text);
            return NULL;
        }
        index++;
        if (end == NULL) {
            break;
        }
        cursor = end + 1;
    }
    ff_string_free(text);
    return names_new(names, index, generation);
}

/* Every flag evaluated once, natively, on one version of the file, and the
 * name -> bit dict of that same version. Nothing is evaluated twice: the
 * dict comes from the message's own version (ff_message_flag_names), so a
 * reload meanwhile (from another thread, or from Python code that the dict's
 * allocation runs) needs no second evaluation, each flag's decision is
 * counted once per message, and the context is read once, into a copy the
 * message keeps. */
static PyObject *store_for_message(FlagStoreObject *self, PyObject *const *args,
                                   Py_ssize_t nargs, PyObject *kwnames) {
    static kw_cache for_message_kw;
    PyObject *slots[ARG_COUNT] = {NULL};
    if (parse_args("for_message", args, nargs, kwnames, MESSAGE_PARAMS, 4, slots, &for_message_kw) < 0) {
        return NULL;
    }
    if (self->closed) {
        return raise_closed();
    }
    context_buf buf;
    context_init(&buf);
    if (read_context(slots, &buf, true) < 0) {
        return NULL;
    }
    uint64_t inline_bits[INLINE_WORDS];
    uint64_t *bits = inline_bits;
    uint64_t *heap_bits = NULL;
    size_t flag_count = 0;
    uint64_t generation = 0;
    NamesObject *names = NULL;
    PyObject *result = NULL;
    ff_message *native = store_take_message(self);
    if (native == NULL) {
        goto done;
    }
    /* The native message takes the version served now and evaluates every
     * flag on it (exposing none: checks expose them, in Python). */
    ff_status status = ff_message_begin(native, self->store, &generation);
    if (status == FF_OK) {
        status = ff_message_evaluate_all(native, &buf.ctx, bits, NULL, INLINE_WORDS, &flag_count);
    }
    if (status == FF_BUFFER_TOO_SMALL) {
        /* Refused before evaluating anything: again, on the same version. */
        size_t needed = (flag_count + 63) / 64;
        heap_bits = PyMem_New(uint64_t, needed);
        if (heap_bits == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        bits = heap_bits;
        status = ff_message_evaluate_all(native, &buf.ctx, bits, NULL, needed, &flag_count);
    }
    if (status != FF_OK) {
        raise_status(status);
        goto done;
    }
    /* No native call reads buf's pointers from here on. */
    if (self->names != NULL && self->names->generation == generation) {
        names = (NamesObject *)Py_NewRef(self->names);
    } else {
        names = names_of(native);
        if (names == NULL) {
            goto done;
        }
        if (names->generation != generation) {
            Py_CLEAR(names);
            PyErr_SetString(PyExc_RuntimeError,
                            "feature_flags: a message's names are not of its version");
            goto done;
        }
        /* Publish for later messages unless a newer version is cached
         * (names_of may have run Python code that refreshed it). */
        if (self->names == NULL || self->names->generation < generation) {
            NamesObject *old_names = self->names;
            self->names = (NamesObject *)Py_NewRef(names);
            Py_XDECREF(old_names); /* after the swap */
        }
    }

    result = message_new((PyObject *)self, native, &buf, names, generation, flag_count, bits);
    native = NULL; /* the message owns it now, or gave it back */
    Py_DECREF(names);

done:
    if (native != NULL) {
        store_release_message((PyObject *)self, native);
    }
    context_release(&buf);
    PyMem_Free(heap_bits);
    return result;
}

/* complaint(name, user_id=None): one complaint about flag `name`. */
static PyObject *store_complaint(FlagStoreObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    static const int params[] = {ARG_NAME, ARG_USER_ID};
    PyObject *slots[ARG_COUNT] = {NULL};
    if (parse_args("complaint", args, nargs, kwnames, params, 2, slots, NULL) < 0) {
        return NULL;
    }
    if (self->closed) {
        return raise_closed();
    }
    const char *name;
    size_t name_len;
    if (read_name(slots[ARG_NAME], &name, &name_len) < 0) {
        return NULL;
    }
    /* user_id is checked like any id (int in i64, or None). It is never a
     * label (the series would be unbounded); with it, one user's complaints
     * about a flag count at most once an hour in this process. */
    context_buf buf;
    context_init(&buf);
    if (read_context(slots, &buf, false) < 0) {
        return NULL;
    }
    bool has_user = (buf.ctx.present & FF_HAS_USER_ID) != 0;
    int64_t user_id = buf.ctx.user_id;
    context_release(&buf);
    bool counted = true;
    ff_status status = has_user
                           ? ff_store_complaint_by(self->store, name, name_len, user_id, &counted)
                           : ff_store_complaint(self->store, name, name_len);
    if (status != FF_OK) {
        return raise_status(status);
    }
    if (counted) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *store_reload(FlagStoreObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->closed) {
        return raise_closed();
    }
    ff_status status;
    char *error_text = NULL;
    ff_store *store = self->store;
    CALL_WITHOUT_GIL(status, error_text, ff_store_reload(store));
    if (status != FF_OK) {
        return raise_with_text(status, error_text);
    }
    Py_RETURN_NONE;
}

/* Releases the GIL: rendering walks every flag's counters and allocates
 * (13 us for 10 flags, 0.2 ms for 200), and a scrape runs on the metrics
 * server's thread while the bot's event loop wants the GIL. */
static PyObject *store_metrics_text(FlagStoreObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->closed) {
        return raise_closed();
    }
    ff_status status;
    char *text = NULL;
    char *error_text = NULL;
    ff_store *store = self->store;
    CALL_WITHOUT_GIL(status, error_text, ff_store_metrics_text(store, &text));
    if (status != FF_OK) {
        return raise_with_text(status, error_text);
    }
    PyObject *result = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "strict");
    ff_string_free(text);
    return result;
}

static PyObject *store_close(FlagStoreObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->closed) {
        Py_RETURN_NONE;
    }
    /* Set first: callers on other threads stop before reaching the ABI,
     * which itself answers FF_CLOSED to anyone already past this check. */
    self->closed = 1;
    store_drain_pool(self); /* let go of the versions pooled messages hold */
    ff_status status;
    ff_store *store = self->store;
    Py_BEGIN_ALLOW_THREADS
    status = ff_store_close(store);
    Py_END_ALLOW_THREADS
    if (status != FF_OK && status != FF_CLOSED) {
        return raise_status(status);
    }
    Py_RETURN_NONE;
}

static PyObject *store_enter(FlagStoreObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->closed) {
        return raise_closed();
    }
    return Py_NewRef((PyObject *)self);
}

static PyObject *store_exit(FlagStoreObject *self, PyObject *const *Py_UNUSED(args),
                            Py_ssize_t Py_UNUSED(nargs)) {
    PyObject *closed = store_close(self, NULL);
    if (closed == NULL) {
        return NULL;
    }
    Py_DECREF(closed);
    Py_RETURN_FALSE;
}

/* One number of the open store's version (`get`: ff_store_generation or
 * ff_store_fingerprint); -1 with an exception set. */
static int store_number(FlagStoreObject *self, ff_status (*get)(const ff_store *, uint64_t *),
                        uint64_t *out) {
    if (self->closed) {
        raise_closed();
        return -1;
    }
    ff_status status = get(self->store, out);
    if (status != FF_OK) {
        raise_status(status);
        return -1;
    }
    return 0;
}

static PyObject *store_get_generation(FlagStoreObject *self, void *Py_UNUSED(closure)) {
    uint64_t generation = 0;
    if (store_number(self, ff_store_generation, &generation) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(generation);
}

static PyObject *store_get_fingerprint(FlagStoreObject *self, void *Py_UNUSED(closure)) {
    uint64_t fingerprint = 0;
    if (store_number(self, ff_store_fingerprint, &fingerprint) < 0) {
        return NULL;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, fingerprint);
    return PyUnicode_FromStringAndSize(hex, 16);
}

static PyObject *store_get_last_error(FlagStoreObject *self, void *Py_UNUSED(closure)) {
    if (self->closed) {
        return raise_closed();
    }
    char *text = NULL;
    ff_status status = ff_store_last_reload_error(self->store, &text);
    if (status != FF_OK) {
        return raise_status(status);
    }
    if (text == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *message = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    ff_string_free(text);
    return message;
}

static PyObject *store_get_closed(FlagStoreObject *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->closed);
}

static PyObject *store_get_path(FlagStoreObject *self, void *Py_UNUSED(closure)) {
    return Py_NewRef(self->path);
}

static PyObject *store_repr(FlagStoreObject *self) {
    if (self->closed) {
        return PyUnicode_FromFormat("<feature_flags.FlagStore %R closed>", self->path);
    }
    uint64_t generation = 0;
    if (ff_store_generation(self->store, &generation) != FF_OK) {
        /* A repr must not raise; the thread-local error text is dropped. */
        ff_string_free(ff_last_error());
        return PyUnicode_FromFormat("<feature_flags.FlagStore %R>", self->path);
    }
    return PyUnicode_FromFormat("<feature_flags.FlagStore %R generation=%llu>", self->path,
                                (unsigned long long)generation);
}

static PyMethodDef store_methods[] = {
    {"is_enabled", (PyCFunction)(void (*)(void))store_is_enabled, METH_FASTCALL | METH_KEYWORDS,
     "is_enabled(name, user_id=None, chat_id=None, chat_type=None, groups=(), default=False)"
     " -> bool\n\nWhether flag `name` is on for this message. `default` answers for a "
     "name the file does not have."},
    {"evaluate", (PyCFunction)(void (*)(void))store_evaluate, METH_FASTCALL | METH_KEYWORDS,
     "evaluate(name, user_id=None, chat_id=None, chat_type=None, groups=(), default=False)"
     " -> Decision\n\nThe decision with its reason and bucket."},
    {"for_message", (PyCFunction)(void (*)(void))store_for_message,
     METH_FASTCALL | METH_KEYWORDS,
     "for_message(user_id=None, chat_id=None, chat_type=None, groups=()) -> Message\n\n"
     "Every flag for one message, in one native call, from one version of the file."},
    {"complaint", (PyCFunction)(void (*)(void))store_complaint, METH_FASTCALL | METH_KEYWORDS,
     "complaint(name, user_id=None) -> bool\n\nCounts one complaint about flag `name` (a "
     "/feedback command, a support ticket) in feature_flags_complaints_total. ValueError for "
     "a flag the file does not define (nothing is counted). With user_id, one user's complaints "
     "about a flag count at most once an hour in this process; returns whether this one "
     "counted."},
    {"reload", (PyCFunction)store_reload, METH_NOARGS,
     "reload() -> None\n\nRe-read the file now. Raises FlagFileError on a bad file, "
     "which keeps the flags loaded before."},
    {"metrics_text", (PyCFunction)store_metrics_text, METH_NOARGS,
     "metrics_text() -> str\n\nThe store's metrics in the Prometheus text format 0.0.4: "
     "reload health, generation, fingerprint, each flag's configuration and, unless "
     "opened with count_decisions=False, its decisions by outcome and reason."},
    {"close", (PyCFunction)store_close, METH_NOARGS,
     "close() -> None\n\nStop watching; later calls raise ClosedError. Idempotent."},
    {"from_json", (PyCFunction)store_from_json, METH_O | METH_CLASS,
     "from_json(text) -> FlagStore\n\nA store from flag-file JSON text (str or bytes), "
     "with no file to watch or reload."},
    {"__enter__", (PyCFunction)store_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))store_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef store_getset[] = {
    {"generation", (getter)store_get_generation, NULL,
     "int: +1 per successful load of the file (1 after opening).", NULL},
    {"fingerprint", (getter)store_get_fingerprint, NULL,
     "str: 16 hex digits of the hash of the loaded file's bytes.", NULL},
    {"last_error", (getter)store_get_last_error, NULL,
     "str | None: why the last reload failed, or None after a successful load.", NULL},
    {"closed", (getter)store_get_closed, NULL, "bool: whether close() was called.", NULL},
    {"path", (getter)store_get_path, NULL,
     "str | None: the flag file, or None for a store made by from_json().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject *FlagStoreType;

static PyType_Slot store_slots[] = {
    {Py_tp_doc, "FlagStore(path, *, watch=True, count_decisions=True)\n\nLoads and validates "
                "the flag file at `path` (raising FlagFileError) and, with watch=True, reloads "
                "it whenever it changes. count_decisions=True counts every decision per flag "
                "for metrics_text(). Safe to share between threads; use as a context manager "
                "or call close()."},
    {Py_tp_new, store_new},
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_repr, store_repr},
    {Py_tp_methods, store_methods},
    {Py_tp_getset, store_getset},
    {0, NULL},
};

static PyType_Spec store_spec = {
    .name = "feature_flags.FlagStore",
    .basicsize = (int)sizeof(FlagStoreObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = store_slots,
};

int store_init(void) {
    FlagStoreType = (PyTypeObject *)PyType_FromSpec(&store_spec);
    return FlagStoreType == NULL ? -1 : 0;
}
