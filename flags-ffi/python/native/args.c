/* Argument checks: everything a caller passes is checked here, so only
 * valid values reach the C ABI. */

#include "native.h"

#include <string.h>

/* Chat types, indexed by FF_CHAT_TYPE_* (index 0 unused). */
static const char *const CHAT_TYPE_NAMES[] = {NULL, "private", "group", "supergroup",
                                              "channel"};
#define CHAT_TYPE_COUNT 5
static PyObject *chat_type_str[CHAT_TYPE_COUNT];

static const char *const ARG_NAMES[ARG_COUNT] = {"name",      "user_id", "chat_id",
                                                 "chat_type", "groups",  "default"};
static PyObject *arg_str[ARG_COUNT];

int args_init(void) {
    for (int t = 1; t < CHAT_TYPE_COUNT; t++) {
        chat_type_str[t] = PyUnicode_InternFromString(CHAT_TYPE_NAMES[t]);
        if (chat_type_str[t] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < ARG_COUNT; i++) {
        arg_str[i] = PyUnicode_InternFromString(ARG_NAMES[i]);
        if (arg_str[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

int parse_args(const char *function, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const int *params, int param_count, PyObject **slots, kw_cache *cache) {
    if (kwnames != NULL && cache != NULL && kwnames == cache->kwnames &&
        nargs == cache->nargs) {
        /* The same keyword names tuple (a call site's constant) and as many
         * positional arguments as a call that parsed: the same slots. */
        for (Py_ssize_t i = 0; i < nargs; i++) {
            slots[params[i]] = args[i];
        }
        for (int k = 0; k < cache->nkw; k++) {
            slots[cache->slot[k]] = args[nargs + k];
        }
        return 0;
    }
    if (nargs > param_count) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional arguments (%zd given)",
                     function, param_count, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        slots[params[i]] = args[i];
    }
    Py_ssize_t nkw = kwnames != NULL ? tuple_size(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = tuple_item(kwnames, k);
        int slot = -1;
        for (int j = 0; j < param_count; j++) {
            int p = params[j];
            if (key == arg_str[p]) {
                slot = p;
                goto found;
            }
        }
        for (int j = 0; j < param_count; j++) {
            int p = params[j];
            if (PyUnicode_Compare(key, arg_str[p]) == 0) {
                slot = p;
                goto found;
            }
        }
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                         function, key);
        }
        return -1;
    found:
        if (slots[slot] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         function, ARG_NAMES[slot]);
            return -1;
        }
        slots[slot] = args[nargs + k];
        if (cache != NULL) {
            cache->pending[k] = (int8_t)slot;
        }
    }
    if (params[0] == ARG_NAME && slots[ARG_NAME] == NULL) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument 'name'", function);
        return -1;
    }
    if (cache != NULL && kwnames != NULL) {
        /* Owned, so that no other tuple can take its address while cached.
         * The old one's dealloc (a tuple of str) runs no Python code. */
        PyObject *old = cache->kwnames;
        cache->kwnames = Py_NewRef(kwnames);
        cache->nargs = nargs;
        cache->nkw = (int)nkw;
        memcpy(cache->slot, cache->pending, sizeof cache->slot);
        Py_XDECREF(old);
    }
    return 0;
}

/* An id: None (absent) or an int within i64. bool is rejected: True as a
 * user id is always a mistake, even though bool subclasses int. */
static int read_id(PyObject *value, const char *what, int64_t *out, uint32_t *present,
                   uint32_t bit) {
    if (value == NULL || value == Py_None) {
        return 0;
    }
    if (!is_int(value) || PyBool_Check(value)) {
        PyObject *type_name = type_name_of(value);
        PyErr_Format(PyExc_TypeError, "%s must be an int or None, not %V", what, type_name, "?");
        Py_XDECREF(type_name);
        return -1;
    }
    int overflow = 0;
    long long id = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow != 0) {
        PyErr_Format(PyExc_ValueError, "%s %R does not fit in a signed 64-bit integer", what,
                     value);
        return -1;
    }
    if (id == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int64_t)id;
    *present |= bit;
    return 0;
}

/* A chat type: None or one of the four strings (str subclasses such as
 * python-telegram-bot's ChatType enum compare by their text). */
static int read_chat_type(PyObject *value, uint32_t *out) {
    if (value == NULL || value == Py_None) {
        *out = FF_CHAT_TYPE_NONE;
        return 0;
    }
    for (uint32_t t = 1; t < CHAT_TYPE_COUNT; t++) {
        if (value == chat_type_str[t]) {
            *out = t;
            return 0;
        }
    }
    if (!is_str(value)) {
        RAISE_FOR_TYPE(PyExc_TypeError, "chat_type must be a str or None, not %V", value);
        return -1;
    }
    for (uint32_t t = 1; t < CHAT_TYPE_COUNT; t++) {
        if (PyUnicode_CompareWithASCIIString(value, CHAT_TYPE_NAMES[t]) == 0) {
            *out = t;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "chat_type must be 'private', 'group', 'supergroup', 'channel' or None, "
                 "not %R",
                 value);
    return -1;
}

/* The UTF-8 of a str (borrowed from it), or a TypeError with
 * `type_error` (a format naming the type with %V) for anything else. */
static inline int read_str(PyObject *value, const char *type_error, const char **ptr,
                           size_t *len) {
    if (!is_str(value)) {
        RAISE_FOR_TYPE(PyExc_TypeError, type_error, value);
        return -1;
    }
    Py_ssize_t size = 0;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == NULL) {
        return -1; /* UnicodeEncodeError (lone surrogates): a ValueError */
    }
    *ptr = utf8;
    *len = (size_t)size;
    return 0;
}

int read_name(PyObject *value, const char **ptr, size_t *len) {
    return read_str(value, "flag name must be a str, not %V", ptr, len);
}

int read_default(PyObject *value, bool *out) {
    if (value == NULL) {
        *out = false;
        return 0;
    }
    if (!PyBool_Check(value)) {
        RAISE_FOR_TYPE(PyExc_TypeError, "default must be a bool, not %V", value);
        return -1;
    }
    *out = value == Py_True;
    return 0;
}

void context_release(context_buf *buf) {
    Py_CLEAR(buf->group_seq);
    if (buf->group_heap != NULL) {
        PyMem_Free(buf->group_heap);
        buf->group_heap = NULL;
    }
}

/* A tuple of the items of `list`, made safely against Python code that runs
 * while it is made. Allocating a tuple may collect garbage and so run
 * finalizers and gc.callbacks (CPython 3.10/3.11), which may change the list:
 * PyList_AsTuple would then copy from freed memory. Here the size is read
 * again after the allocation and the items are taken with nothing allocated
 * in between. */
static PyObject *copy_list(PyObject *list) {
    for (int attempt = 0; attempt < 4; attempt++) {
        Py_ssize_t count = PyList_Size(list);
        PyObject *copy = PyTuple_New(count); /* may run Python code */
        if (copy == NULL) {
            return NULL;
        }
        if (PyList_Size(list) == count) {
            for (Py_ssize_t i = 0; i < count; i++) {
                PyObject *item = PyList_GetItem(list, i); /* borrowed; in range */
                Py_INCREF(item);
                PyTuple_SetItem(copy, i, item); /* steals; cannot fail here */
            }
            return copy;
        }
        Py_DECREF(copy);
    }
    /* Changed by every collection: a list copy, whose only allocation of a
     * collected object comes before the list is read. */
    return PySequence_List(list);
}

/* groups: an iterable of str (or None). A bare str is an iterable of
 * one-letter strings, never what the caller meant, so it is a TypeError.
 *
 * The UTF-8 pointers borrow from strings that buf->group_seq keeps alive.
 * Without `copy`, an exact list passed in is read in place: the caller must
 * make its native call before any Python code can run (none runs here after
 * the pointers are taken, and is_enabled/evaluate call nothing else). With
 * `copy`, buf->group_seq is a sequence nothing else holds (a tuple, which
 * cannot change, or a copy of a list or iterable), so the pointers stay
 * valid whatever Python code runs later and whatever the caller does to its
 * list: for_message keeps it as the message's one copy of its context. */
static int read_groups(PyObject *value, context_buf *buf, bool copy) {
    if (value == NULL || value == Py_None) {
        return 0;
    }
    if (PyTuple_CheckExact(value) && tuple_size(value) == 0) {
        return 0;
    }
    PyObject *seq;
    /* An exact list or tuple first: it cannot be a str, and under the
     * limited API each type check below is a function call. */
    if (PyTuple_CheckExact(value)) {
        Py_INCREF(value);
        seq = value;
    } else if (PyList_CheckExact(value)) {
        if (copy) {
            seq = copy_list(value);
            if (seq == NULL) {
                return -1;
            }
        } else {
            Py_INCREF(value);
            seq = value;
        }
    } else {
        if (PyUnicode_Check(value) || PyBytes_Check(value) || PyByteArray_Check(value)) {
            RAISE_FOR_TYPE(PyExc_TypeError,
                         "groups must be an iterable of str such as ('beta_testers',), "
                         "not a single %V", value);
            return -1;
        }
        PyObject *iterator = PyObject_GetIter(value);
        if (iterator == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                RAISE_FOR_TYPE(PyExc_TypeError, "groups must be an iterable of str, not %V", value);
            }
            return -1;
        }
        seq = PySequence_List(iterator);
        Py_DECREF(iterator);
        if (seq == NULL) {
            return -1;
        }
    }
    buf->group_seq = seq;
    bool is_list = PyList_CheckExact(seq);
    Py_ssize_t count = is_list ? PyList_Size(seq) : tuple_size(seq);
    ff_str *groups = buf->group_inline;
    if (count > INLINE_GROUPS) {
        groups = PyMem_New(ff_str, (size_t)count);
        if (groups == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        buf->group_heap = groups;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        /* Borrowed: seq is a tuple, a list made here, or (without `copy`)
         * the caller's list, which no Python code touches until the native
         * call is done. */
        PyObject *item = is_list ? PyList_GetItem(seq, i) : tuple_item(seq, i);
        if (item == NULL) {
            return -1;
        }
        if (read_str(item, "groups must contain only str, not %V", &groups[i].ptr,
                     &groups[i].len) < 0) {
            return -1;
        }
    }
    buf->ctx.groups = groups;
    buf->ctx.groups_len = (size_t)count;
    return 0;
}

int read_context(PyObject **slots, context_buf *buf, bool copy_groups) {
    if (read_id(slots[ARG_USER_ID], "user_id", &buf->ctx.user_id, &buf->ctx.present,
                FF_HAS_USER_ID) < 0 ||
        read_id(slots[ARG_CHAT_ID], "chat_id", &buf->ctx.chat_id, &buf->ctx.present,
                FF_HAS_CHAT_ID) < 0 ||
        read_chat_type(slots[ARG_CHAT_TYPE], &buf->ctx.chat_type) < 0 ||
        read_groups(slots[ARG_GROUPS], buf, copy_groups) < 0) {
        context_release(buf);
        return -1;
    }
    return 0;
}
