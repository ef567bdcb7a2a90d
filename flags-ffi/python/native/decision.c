/* Decision: a named tuple (enabled, reason, bucket), as a struct sequence so
 * that evaluate() builds it without calling Python code. */

#include "native.h"

PyTypeObject *DecisionType;

/* Reasons, indexed by FF_REASON_*: the spec's strings. */
static const char *const REASON_NAMES[] = {"unknown_flag", "disabled", "chat_excluded",
                                           "chat_type",    "group",    "rollout",
                                           "missing_key"};
#define REASON_COUNT 7
static PyObject *reason_str[REASON_COUNT];

static PyStructSequence_Field decision_fields[] = {
    {"enabled", "bool: whether the flag is on"},
    {"reason", "str: which evaluation step decided (unknown_flag, disabled, chat_excluded, "
               "chat_type, group, rollout, missing_key)"},
    {"bucket", "int | None: the key's bucket (0..99999) when the rollout step was reached"},
    {NULL, NULL},
};

static PyStructSequence_Desc decision_desc = {
    "feature_flags.Decision",
    "Decision(enabled, reason, bucket): the answer for one flag and one message.",
    decision_fields,
    3,
};

int decision_init(void) {
    for (int i = 0; i < REASON_COUNT; i++) {
        reason_str[i] = PyUnicode_InternFromString(REASON_NAMES[i]);
        if (reason_str[i] == NULL) {
            return -1;
        }
    }
    DecisionType = PyStructSequence_NewType(&decision_desc);
    return DecisionType == NULL ? -1 : 0;
}

PyObject *make_decision(bool enabled, uint8_t reason, bool has_bucket, uint32_t bucket) {
    if (reason >= REASON_COUNT) {
        PyErr_Format(PyExc_RuntimeError, "feature_flags: unknown reason %u", (unsigned)reason);
        return NULL;
    }
    PyObject *decision = PyStructSequence_New(DecisionType);
    if (decision == NULL) {
        return NULL;
    }
    PyObject *bucket_obj;
    if (has_bucket) {
        bucket_obj = PyLong_FromUnsignedLong(bucket);
        if (bucket_obj == NULL) {
            Py_DECREF(decision);
            return NULL;
        }
    } else {
        bucket_obj = Py_NewRef(Py_None);
    }
    PyStructSequence_SetItem(decision, 0, PyBool_FromLong(enabled));
    PyStructSequence_SetItem(decision, 1, Py_NewRef(reason_str[reason]));
    PyStructSequence_SetItem(decision, 2, bucket_obj);
    return decision;
}
