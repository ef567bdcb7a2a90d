/* Message: every flag of one message, as bits plus the name -> bit dict of
 * the file generation they came from. Checks are a dict lookup and a bit
 * test: no native call. A check also sets the flag's bit in `exposed`;
 * record() hands those bits to the native ff_message, which knows each
 * flag's cohort and counts the outcome on the version the bits came from
 * (docs/spec.md "Outcomes"). */

#include "native.h"

#include <math.h>
#include <string.h>
#include <time.h>

typedef struct {
    PyObject_VAR_HEAD
    NamesObject *names; /* flag name -> bit index, of this generation */
    uint64_t generation;
    size_t flag_count;
    PyObject *store;     /* the FlagStore, whose pool takes `native` back */
    ff_message *native;  /* owned: the version evaluated, cohorts, the outcome */
    PyObject *group_seq; /* owned, or NULL: the strings the context's groups borrow */
    size_t words;        /* words of `on` bits (and of `exposed`) */
    uint64_t *exposed;   /* = bits + words: flags asked through this message */
    /* Py_SIZE(self) words: `on` bits, `exposed` bits, the context (see
     * message_context), then its groups' ff_str (two words each). The
     * context comes after the bits so that a check or a record touches
     * only the object's first two cache lines (bench.py times record()
     * on messages made long before, out of cache: with the context in the
     * fixed part it measured 1-2 ns behind the build before, now even). */
    uint64_t bits[1];
} MessageObject;

#define CONTEXT_WORDS (sizeof(ff_context) / sizeof(uint64_t))
_Static_assert(sizeof(ff_context) % sizeof(uint64_t) == 0, "a context is whole words");
_Static_assert(sizeof(ff_str) == 2 * sizeof(uint64_t), "an ff_str is two words");

/* The context for_message read, once: evaluate() answers from this copy,
 * whatever the caller did since to the groups it passed (a generator is
 * spent, a list may have changed). */
static inline ff_context *message_context(MessageObject *self) {
    return (ff_context *)(self->bits + 2 * self->words);
}

PyObject *message_new(PyObject *store, ff_message *native, context_buf *context,
                      NamesObject *names, uint64_t generation, size_t flag_count,
                      const uint64_t *bits) {
    size_t words = (flag_count + 63) / 64;
    size_t groups = context->ctx.groups_len;
    MessageObject *self = PyObject_NewVar(MessageObject, MessageType,
                                          (Py_ssize_t)(2 * words + CONTEXT_WORDS + 2 * groups));
    if (self == NULL) {
        store_release_message(store, native);
        context_release(context);
        return NULL;
    }
    self->names = (NamesObject *)Py_NewRef(names);
    self->generation = generation;
    self->flag_count = flag_count;
    self->store = Py_NewRef(store);
    self->native = native;
    self->words = words;
    ff_context *kept = message_context(self);
    *kept = context->ctx;
    self->group_seq = context->group_seq; /* taken over */
    context->group_seq = NULL;
    if (groups > 0) {
        ff_str *copy = (ff_str *)(self->bits + 2 * words + CONTEXT_WORDS);
        memcpy(copy, context->ctx.groups, groups * sizeof(ff_str));
        kept->groups = copy;
    }
    self->exposed = self->bits + words;
    if (words > 0) {
        memcpy(self->bits, bits, words * sizeof(uint64_t));
        memset(self->exposed, 0, words * sizeof(uint64_t));
    }
    return (PyObject *)self;
}

static void message_dealloc(MessageObject *self) {
    if (self->native != NULL) {
        store_release_message(self->store, self->native);
        self->native = NULL;
    }
    Py_CLEAR(self->group_seq);
    Py_XDECREF(self->store);
    Py_XDECREF(self->names);
    free_instance((PyObject *)self);
}

static inline size_t address_hash(const PyObject *object) {
    /* Objects are 16-byte aligned: drop those bits, then spread the rest. */
    return (size_t)((((uint64_t)(uintptr_t)object >> 4) * 0x9E3779B97F4A7C15ull) >> 32);
}

static PyTypeObject *NamesType;

NamesObject *names_new(PyObject *dict, Py_ssize_t count, uint64_t generation) {
    Py_ssize_t size = 8;
    while (size < 2 * count) {
        size *= 2;
    }
    NamesObject *names = PyObject_NewVar(NamesObject, NamesType, size);
    if (names == NULL) {
        Py_DECREF(dict);
        return NULL;
    }
    names->dict = dict;
    names->generation = generation;
    names->mask = (size_t)size - 1;
    memset(names->slots, 0, (size_t)size * sizeof(name_slot));
    Py_ssize_t pos = 0;
    PyObject *name;
    PyObject *index_obj;
    while (PyDict_Next(dict, &pos, &name, &index_obj)) {
        Py_ssize_t index = PyLong_AsSsize_t(index_obj);
        if (index < 0) {
            Py_DECREF(names);
            return NULL;
        }
        size_t i = address_hash(name) & names->mask;
        while (names->slots[i].name != NULL) {
            i = (i + 1) & names->mask;
        }
        names->slots[i].name = name;
        names->slots[i].index = index;
    }
    return names;
}

static void names_dealloc(NamesObject *self) {
    Py_XDECREF(self->dict);
    free_instance((PyObject *)self);
}

static PyType_Slot names_slots[] = {
    {Py_tp_dealloc, names_dealloc},
    {0, NULL},
};

static PyType_Spec names_spec = {
    .name = "feature_flags._Names",
    .basicsize = (int)offsetof(NamesObject, slots),
    .itemsize = (int)sizeof(name_slot),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = names_slots,
};

/* The bit of `name`, -1 for a name this version does not have, -2 with an
 * exception set. */
static inline Py_ssize_t names_find(NamesObject *names, PyObject *name) {
    size_t i = address_hash(name) & names->mask;
    for (;;) {
        PyObject *key = names->slots[i].name;
        if (key == name) {
            return names->slots[i].index;
        }
        if (key == NULL) {
            break;
        }
        i = (i + 1) & names->mask;
    }
    /* Not this object: an equal str made at run time, or no flag. */
    if (!is_str(name)) {
        RAISE_FOR_TYPE(PyExc_TypeError, "flag name must be a str, not %V", name);
        return -2;
    }
    PyObject *index_obj = PyDict_GetItemWithError(names->dict, name);
    if (index_obj == NULL) {
        return PyErr_Occurred() ? -2 : -1;
    }
    Py_ssize_t index = PyLong_AsSsize_t(index_obj);
    return index < 0 ? -2 : index;
}

/* 1 on, 0 off, -1 not a flag of this generation, -2 error. Exposes the flag. */
static int message_lookup(MessageObject *self, PyObject *name) {
    Py_ssize_t index = names_find(self->names, name);
    if (index < 0) {
        return (int)index;
    }
    if ((size_t)index >= self->flag_count) {
        PyErr_SetString(PyExc_RuntimeError, "feature_flags: flag index out of range");
        return -2;
    }
    self->exposed[index / 64] |= (uint64_t)1 << (index % 64);
    return (int)((self->bits[index / 64] >> (index % 64)) & 1u);
}

static PyObject *message_is_enabled(MessageObject *self, PyObject *const *args,
                                    Py_ssize_t nargs, PyObject *kwnames) {
    static const int params[] = {ARG_NAME, ARG_DEFAULT};
    static kw_cache cache;
    PyObject *name;
    bool default_value = false;
    if (nargs == 1 && kwnames == NULL) {
        name = args[0]; /* msg.is_enabled("flag"): by far the common call */
    } else {
        PyObject *slots[ARG_COUNT] = {NULL};
        if (parse_args("is_enabled", args, nargs, kwnames, params, 2, slots, &cache) < 0 ||
            read_default(slots[ARG_DEFAULT], &default_value) < 0) {
            return NULL;
        }
        name = slots[ARG_NAME];
    }
    int found = message_lookup(self, name);
    if (found == -2) {
        return NULL;
    }
    return bool_ref(found == -1 ? default_value : found);
}

static int message_contains(MessageObject *self, PyObject *name) {
    int found = message_lookup(self, name);
    if (found == -2) {
        return -1;
    }
    return found == 1;
}

static PyObject *message_enabled_flags(MessageObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *enabled = PyList_New(0);
    if (enabled == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *name;
    PyObject *index_obj;
    while (PyDict_Next(self->names->dict, &pos, &name, &index_obj)) {
        Py_ssize_t index = PyLong_AsSsize_t(index_obj);
        if (index >= 0 && (size_t)index < self->flag_count &&
            ((self->bits[index / 64] >> (index % 64)) & 1u) != 0) {
            if (PyList_Append(enabled, name) < 0) {
                Py_DECREF(enabled);
                return NULL;
            }
        }
    }
    return enabled;
}

static PyObject *message_repr(MessageObject *self) {
    PyObject *enabled = message_enabled_flags(self, NULL);
    if (enabled == NULL) {
        return NULL;
    }
    PyObject *repr = PyUnicode_FromFormat("<feature_flags.Message generation=%llu enabled=%R>",
                                          (unsigned long long)self->generation, enabled);
    Py_DECREF(enabled);
    return repr;
}

static PyObject *message_evaluate(MessageObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
    static const int params[] = {ARG_NAME, ARG_DEFAULT};
    PyObject *slots[ARG_COUNT] = {NULL};
    if (parse_args("evaluate", args, nargs, kwnames, params, 2, slots, NULL) < 0) {
        return NULL;
    }
    const char *name;
    size_t name_len;
    bool default_value;
    if (read_name(slots[ARG_NAME], &name, &name_len) < 0 ||
        read_default(slots[ARG_DEFAULT], &default_value) < 0) {
        return NULL;
    }
    ff_decision decision = {0};
    /* Exposes the flag on the native side, in its cohort. */
    ff_status status =
        ff_message_evaluate(self->native, name, name_len, message_context(self), &decision);
    if (status != FF_OK) {
        return raise_status(status);
    }
    bool enabled =
        decision.reason == FF_REASON_UNKNOWN_FLAG ? default_value : decision.enabled;
    return make_decision(enabled, decision.reason, decision.has_bucket, decision.bucket);
}

/* Counts the outcome once for every exposed flag; Py_True the first time. */
static PyObject *record_outcome(MessageObject *self, bool error, double seconds) {
    size_t words = self->words;
    bool recorded = false;
    ff_status status = ff_message_expose_bits(self->native, self->exposed, words);
    if (status == FF_OK) {
        status = ff_message_record(self->native, error, seconds, &recorded);
    }
    if (status != FF_OK) {
        return raise_status(status);
    }
    return bool_ref(recorded);
}

/* flags_core::MAX_OUTCOME_SECONDS. */
#define MAX_OUTCOME_SECONDS 86400

static PyObject *record_error_str;
static PyObject *record_seconds_str;

static PyObject *message_record(MessageObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    PyObject *error_obj = NULL;
    PyObject *seconds_obj = NULL;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "record() takes at most 2 positional arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (nargs > 0) {
        error_obj = args[0];
    }
    if (nargs > 1) {
        seconds_obj = args[1];
    }
    Py_ssize_t nkw = kwnames != NULL ? tuple_size(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = tuple_item(kwnames, k);
        PyObject **slot;
        if (key == record_error_str || PyUnicode_Compare(key, record_error_str) == 0) {
            slot = &error_obj;
        } else if (key == record_seconds_str ||
                   PyUnicode_Compare(key, record_seconds_str) == 0) {
            slot = &seconds_obj;
        } else {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError,
                             "record() got an unexpected keyword argument '%U'", key);
            }
            return NULL;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError, "record() got multiple values for argument '%U'", key);
            return NULL;
        }
        *slot = args[nargs + k];
    }
    if (error_obj == NULL || seconds_obj == NULL) {
        PyErr_Format(PyExc_TypeError, "record() missing required argument '%s'",
                     error_obj == NULL ? "error" : "seconds");
        return NULL;
    }
    if (!PyBool_Check(error_obj)) {
        RAISE_FOR_TYPE(PyExc_TypeError, "error must be a bool, not %V", error_obj);
        return NULL;
    }
    double seconds;
    if (PyFloat_CheckExact(seconds_obj)) {
        seconds = PyFloat_AsDouble(seconds_obj); /* no PyFloat_AS_DOUBLE in the limited API */
    } else if ((is_int(seconds_obj) || PyFloat_Check(seconds_obj)) &&
               !PyBool_Check(seconds_obj)) {
        seconds = PyFloat_AsDouble(seconds_obj);
        if (seconds == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                return NULL; /* a float subclass's __float__ raised */
            }
            /* An int too large for a float: out of range like any other
             * (docs/spec.md "Bindings" promises ValueError for a bad value). */
            PyErr_Clear();
            seconds = HUGE_VAL;
        }
    } else {
        RAISE_FOR_TYPE(PyExc_TypeError, "seconds must be an int or float, not %V", seconds_obj);
        return NULL;
    }
    /* Over a day is a unit mistake (time.time_ns(), milliseconds, a
     * timestamp), refused like a negative; the native side checks too. */
    if (!(seconds >= 0.0 && seconds <= (double)MAX_OUTCOME_SECONDS)) {
        PyErr_Format(PyExc_ValueError,
                     "seconds must be a duration from 0 to %d (a day), not %R",
                     MAX_OUTCOME_SECONDS, seconds_obj);
        return NULL;
    }
    return record_outcome(self, error_obj == Py_True, seconds);
}

/* ---- Track: `with msg.track():` ------------------------------------------ */

typedef struct {
    PyObject_HEAD
    MessageObject *message;
    struct timespec started;
} TrackObject;

static PyTypeObject *TrackType;

static PyObject *message_track(MessageObject *self, PyObject *Py_UNUSED(ignored)) {
    TrackObject *track = PyObject_New(TrackObject, TrackType);
    if (track == NULL) {
        return NULL;
    }
    track->message = (MessageObject *)Py_NewRef(self);
    /* Started here too, so a tracker used without `with` still measures. */
    clock_gettime(CLOCK_MONOTONIC, &track->started);
    return (PyObject *)track;
}

static void track_dealloc(TrackObject *self) {
    Py_XDECREF(self->message);
    free_instance((PyObject *)self);
}

static PyObject *track_enter(TrackObject *self, PyObject *Py_UNUSED(ignored)) {
    clock_gettime(CLOCK_MONOTONIC, &self->started);
    return Py_NewRef(self);
}

static PyObject *track_exit(TrackObject *self, PyObject *const *args, Py_ssize_t nargs) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - self->started.tv_sec) +
                     (double)(now.tv_nsec - self->started.tv_nsec) / 1e9;
    if (seconds < 0.0) {
        seconds = 0.0;
    }
    /* A block that really ran over a day is still counted (in +Inf), at the
     * longest duration record() accepts. */
    if (seconds > (double)MAX_OUTCOME_SECONDS) {
        seconds = (double)MAX_OUTCOME_SECONDS;
    }
    bool error = nargs > 0 && args[0] != Py_None;
    PyObject *recorded = record_outcome(self->message, error, seconds);
    if (recorded == NULL) {
        return NULL;
    }
    Py_DECREF(recorded);
    Py_RETURN_FALSE; /* never swallows the exception */
}

/* ---- `async with msg.track():` ------------------------------------------
 * __aenter__ and __aexit__ do what __enter__ and __exit__ do, at once (no
 * I/O to wait for), and return an awaitable already done: a Ready, whose
 * __await__ is itself and whose first __next__ raises StopIteration(value),
 * which is how an iterator-based awaitable returns its value. */

typedef struct {
    PyObject_HEAD
    PyObject *value; /* owned; NULL once returned */
} ReadyObject;

static PyTypeObject *ReadyType;

static PyObject *ready_new(PyObject *value) {
    if (value == NULL) {
        return NULL;
    }
    ReadyObject *ready = PyObject_New(ReadyObject, ReadyType);
    if (ready == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    ready->value = value; /* steals */
    return (PyObject *)ready;
}

static void ready_dealloc(ReadyObject *self) {
    Py_XDECREF(self->value);
    free_instance((PyObject *)self);
}

static PyObject *ready_await(ReadyObject *self) {
    return Py_NewRef(self);
}

static PyObject *ready_next(ReadyObject *self) {
    PyObject *value = self->value;
    if (value != NULL) {
        self->value = NULL;
        /* StopIteration(value) made explicitly: PyErr_SetObject would unpack
         * a tuple value into arguments. */
        PyObject *stop = PyObject_CallFunctionObjArgs(PyExc_StopIteration, value, NULL);
        Py_DECREF(value);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    return NULL; /* no error set: exhausted */
}

static PyType_Slot ready_slots[] = {
    {Py_tp_doc, "An awaitable already done (from Track.__aenter__/__aexit__)."},
    {Py_tp_dealloc, ready_dealloc},
    {Py_am_await, ready_await},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, ready_next},
    {0, NULL},
};

static PyType_Spec ready_spec = {
    .name = "feature_flags._Ready",
    .basicsize = (int)sizeof(ReadyObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ready_slots,
};

static PyObject *track_aenter(TrackObject *self, PyObject *Py_UNUSED(ignored)) {
    return ready_new(track_enter(self, NULL));
}

static PyObject *track_aexit(TrackObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return ready_new(track_exit(self, args, nargs));
}

static PyMethodDef track_methods[] = {
    {"__enter__", (PyCFunction)track_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))track_exit, METH_FASTCALL, NULL},
    {"__aenter__", (PyCFunction)track_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)(void (*)(void))track_aexit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot track_slots[] = {
    {Py_tp_doc, "Context manager from Message.track(), for `with` and `async with`: times the "
                "block with a monotonic clock and records the message's outcome when it ends "
                "(an exception leaving it is an error, re-raised)."},
    {Py_tp_dealloc, track_dealloc},
    {Py_tp_methods, track_methods},
    {0, NULL},
};

static PyType_Spec track_spec = {
    .name = "feature_flags.Track",
    .basicsize = (int)sizeof(TrackObject),
    .itemsize = 0,
    /* Only Message.track() makes one. */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = track_slots,
};

static PyObject *message_get_generation(MessageObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromUnsignedLongLong(self->generation);
}

static PyMethodDef message_methods[] = {
    {"is_enabled", (PyCFunction)(void (*)(void))message_is_enabled,
     METH_FASTCALL | METH_KEYWORDS,
     "is_enabled(name, default=False) -> bool\n\nWhether flag `name` is on for this "
     "message; `default` for a name the file does not have. No native call."},
    {"enabled_flags", (PyCFunction)message_enabled_flags, METH_NOARGS,
     "enabled_flags() -> list[str]\n\nNames of the flags that are on, in file order "
     "(exposes none)."},
    {"evaluate", (PyCFunction)(void (*)(void))message_evaluate, METH_FASTCALL | METH_KEYWORDS,
     "evaluate(name, default=False) -> Decision\n\nFlag `name` with its reason and bucket, "
     "on this message's version of the file; exposes it. One native call."},
    {"record", (PyCFunction)(void (*)(void))message_record, METH_FASTCALL | METH_KEYWORDS,
     "record(error, seconds) -> bool\n\nCounts how handling this message went for every "
     "flag it asked about, in the flag's cohort. True the first time; later calls count "
     "nothing and return False."},
    {"track", (PyCFunction)message_track, METH_NOARGS,
     "track() -> context manager\n\n`with msg.track():` (or `async with`) times the block "
     "(monotonic clock, wall time, across awaits too) and records the outcome when it ends; "
     "an exception leaving the block counts as an error and propagates."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef message_getset[] = {
    {"generation", (getter)message_get_generation, NULL,
     "Generation of the flag file these answers came from.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject *MessageType;

static PyType_Slot message_slots[] = {
    {Py_tp_doc, "Every flag for one message, from one version of the flag file.\n\n"
                "Made by FlagStore.for_message(); checks cost no native calls."},
    {Py_tp_dealloc, message_dealloc},
    {Py_tp_repr, message_repr},
    {Py_sq_contains, message_contains},
    {Py_tp_methods, message_methods},
    {Py_tp_getset, message_getset},
    {0, NULL},
};

static PyType_Spec message_spec = {
    .name = "feature_flags.Message",
    .basicsize = (int)offsetof(MessageObject, bits),
    .itemsize = (int)sizeof(uint64_t),
    /* Only for_message() makes one. */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = message_slots,
};

int message_init(void) {
    record_error_str = PyUnicode_InternFromString("error");
    record_seconds_str = PyUnicode_InternFromString("seconds");
    if (record_error_str == NULL || record_seconds_str == NULL) {
        return -1;
    }
    ReadyType = (PyTypeObject *)PyType_FromSpec(&ready_spec);
    NamesType = (PyTypeObject *)PyType_FromSpec(&names_spec);
    if (ReadyType == NULL || NamesType == NULL) {
        return -1;
    }
    TrackType = (PyTypeObject *)PyType_FromSpec(&track_spec);
    MessageType = (PyTypeObject *)PyType_FromSpec(&message_spec);
    return TrackType == NULL || MessageType == NULL ? -1 : 0;
}
