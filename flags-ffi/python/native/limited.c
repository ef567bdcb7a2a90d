/* What the limited API leaves out and the extension needs: see native.h. */

#include "native.h"

PyObject *type_name_of(PyObject *value) {
    PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(value), "__name__");
    if (name == NULL || !is_str(name)) {
        /* Only for an error message: never let it replace the real error. */
        Py_XDECREF(name);
        PyErr_Clear();
        return NULL;
    }
    return name;
}

void free_instance(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    freefunc free_slot = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_slot(self);
    /* Instances of heap types own a reference to their type. */
    Py_DECREF(type);
}
