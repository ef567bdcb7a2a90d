/* Message: every flag of one message, as bits plus the name -> bit dict of
 * the file generation they came from. Checks are a dict lookup and a bit
 * test: no native call. */

#include "native.h"

#include <string.h>

typedef struct {
    PyObject_VAR_HEAD
    PyObject *names; /* dict: flag name -> bit index, of this generation */
    uint64_t generation;
    size_t flag_count;
    uint64_t bits[1]; /* Py_SIZE(self) words */
} MessageObject;

PyObject *message_new(PyObject *names, uint64_t generation, size_t flag_count,
                      const uint64_t *bits) {
    size_t words = (flag_count + 63) / 64;
    MessageObject *self = PyObject_NewVar(MessageObject, MessageType, (Py_ssize_t)words);
    if (self == NULL) {
        return NULL;
    }
    self->names = Py_NewRef(names);
    self->generation = generation;
    self->flag_count = flag_count;
    if (words > 0) {
        memcpy(self->bits, bits, words * sizeof(uint64_t));
    }
    return (PyObject *)self;
}

static void message_dealloc(MessageObject *self) {
    Py_XDECREF(self->names);
    free_instance((PyObject *)self);
}

/* 1 on, 0 off, -1 not a flag of this generation, -2 error. */
static int message_lookup(MessageObject *self, PyObject *name) {
    if (!is_str(name)) {
        RAISE_FOR_TYPE(PyExc_TypeError, "flag name must be a str, not %V", name);
        return -2;
    }
    PyObject *index_obj = PyDict_GetItemWithError(self->names, name);
    if (index_obj == NULL) {
        return PyErr_Occurred() ? -2 : -1;
    }
    Py_ssize_t index = PyLong_AsSsize_t(index_obj);
    if (index < 0 || (size_t)index >= self->flag_count) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "feature_flags: flag index out of range");
        }
        return -2;
    }
    return (int)((self->bits[index / 64] >> (index % 64)) & 1u);
}

static PyObject *message_is_enabled(MessageObject *self, PyObject *const *args,
                                    Py_ssize_t nargs, PyObject *kwnames) {
    static const int params[] = {ARG_NAME, ARG_DEFAULT};
    PyObject *slots[ARG_COUNT] = {NULL};
    if (parse_args("is_enabled", args, nargs, kwnames, params, 2, slots) < 0) {
        return NULL;
    }
    bool default_value;
    if (read_default(slots[ARG_DEFAULT], &default_value) < 0) {
        return NULL;
    }
    int found = message_lookup(self, slots[ARG_NAME]);
    if (found == -2) {
        return NULL;
    }
    return PyBool_FromLong(found == -1 ? default_value : found);
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
    while (PyDict_Next(self->names, &pos, &name, &index_obj)) {
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

static PyObject *message_get_generation(MessageObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromUnsignedLongLong(self->generation);
}

static PyMethodDef message_methods[] = {
    {"is_enabled", (PyCFunction)(void (*)(void))message_is_enabled,
     METH_FASTCALL | METH_KEYWORDS,
     "is_enabled(name, default=False) -> bool\n\nWhether flag `name` is on for this "
     "message; `default` for a name the file does not have. No native call."},
    {"enabled_flags", (PyCFunction)message_enabled_flags, METH_NOARGS,
     "enabled_flags() -> list[str]\n\nNames of the flags that are on, in file order."},
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
    MessageType = (PyTypeObject *)PyType_FromSpec(&message_spec);
    return MessageType == NULL ? -1 : 0;
}
