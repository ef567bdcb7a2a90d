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
    /* tp_free without PyType_GetSlot (a call and a lookup per object): the
     * module's types are neither collected (no Py_TPFLAGS_HAVE_GC) nor
     * subclassable, so their tp_free is PyObject_Free. */
    PyObject_Free(self);
    /* Instances of heap types own a reference to their type. */
    Py_DECREF(type);
}
