/* The package's exceptions, and the mapping from ff_status to them. */

#include "native.h"

#include <string.h>

PyObject *FlagFileError;
PyObject *ClosedError;

int errors_init(void) {
    FlagFileError = PyErr_NewExceptionWithDoc(
        "feature_flags.FlagFileError",
        "The flag file could not be read or is invalid; the message lists every problem "
        "as `feature_flags --check` does.",
        NULL, NULL);
    if (FlagFileError == NULL) {
        return -1;
    }
    /* A RuntimeError: using a closed store is a state error, not a bad argument. */
    ClosedError = PyErr_NewExceptionWithDoc("feature_flags.ClosedError",
                                            "The FlagStore was closed.", PyExc_RuntimeError,
                                            NULL);
    return ClosedError == NULL ? -1 : 0;
}

static PyObject *exception_for(ff_status status) {
    switch (status) {
    case FF_FILE_ERROR:
    case FF_INVALID_FILE:
    case FF_NO_FILE:
        return FlagFileError;
    case FF_CLOSED:
        return ClosedError;
    case FF_NULL_ARGUMENT:
    case FF_INVALID_UTF8:
    case FF_INVALID_ARGUMENT:
        /* The arguments were checked in args.c; reaching this is a bug there. */
        return PyExc_ValueError;
    case FF_UNKNOWN_FLAG: /* complaint() about a flag the file does not define */
        return PyExc_ValueError;
    default: /* FF_PANIC, an unexpected FF_BUFFER_TOO_SMALL, a future status */
        return PyExc_RuntimeError;
    }
}

PyObject *raise_with_text(ff_status status, char *error_text) {
    PyObject *message;
    if (error_text != NULL) {
        message = PyUnicode_DecodeUTF8(error_text, (Py_ssize_t)strlen(error_text), "replace");
        ff_string_free(error_text);
    } else {
        message = PyUnicode_FromFormat("feature_flags call failed with status %u",
                                       (unsigned)status);
    }
    if (message == NULL) {
        return NULL;
    }
    PyErr_SetObject(exception_for(status), message);
    Py_DECREF(message);
    return NULL;
}

PyObject *raise_status(ff_status status) {
    return raise_with_text(status, ff_last_error());
}

PyObject *raise_closed(void) {
    PyErr_SetString(ClosedError, "the FlagStore is closed");
    return NULL;
}
