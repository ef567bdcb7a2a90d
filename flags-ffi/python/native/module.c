/* feature_flags._native: module init. See native.h for the design notes. */

#include "native.h"

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "feature_flags._native",
    .m_doc = "CPython extension over the flags-ffi C ABI (statically linked).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (args_init() < 0 || errors_init() < 0 || decision_init() < 0 || store_init() < 0 ||
        message_init() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "FlagStore", (PyObject *)FlagStoreType) < 0 ||
        PyModule_AddObjectRef(module, "Message", (PyObject *)MessageType) < 0 ||
        PyModule_AddObjectRef(module, "Decision", (PyObject *)DecisionType) < 0 ||
        PyModule_AddObjectRef(module, "FlagFileError", FlagFileError) < 0 ||
        PyModule_AddObjectRef(module, "ClosedError", ClosedError) < 0 ||
        PyModule_AddStringConstant(module, "library_version", ff_version()) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
