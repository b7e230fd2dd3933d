/*
 * ziggydb_jni.c: the JNI layer of the Java binding, over the C ABI (ziggydb.h).
 *
 * Every function here is a static native method of ziggydb.Native. Handles travel to Java as
 * jlong; the Java side (ZiggyDb, Transaction) guarantees that a handle is live for the whole
 * of a call and never used after it was closed. What this layer guarantees in turn:
 *  - nothing from Java is trusted to be non-NULL: a NULL array is a NullPointerException,
 *    never a crash;
 *  - a failed C call becomes a ziggydb.ZiggyException (made by ZiggyException.fromNative with
 *    the code and ziggy_errmsg()), thrown into Java; nothing aborts;
 *  - every buffer and reply the library hands out is given back before the call returns,
 *    whether it succeeded, failed or ran out of Java heap.
 */

#include <jni.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ziggydb.h"

/* Classes and methods looked up once in JNI_OnLoad (global references: classes stay loaded). */
static jclass c_exception, c_value, c_native, c_long, c_double, c_boolean;
static jclass c_list, c_map, c_set, c_npe, c_oom;
static jmethodID m_from_native, m_from_reply, m_value_of_native, m_text;
static jmethodID m_long_of, m_double_of, m_boolean_of;
static jmethodID m_list_new, m_list_add, m_map_new, m_map_put, m_set_new, m_set_add;

/* Live handles, for the tests of close() and the Cleaner. */
static atomic_long live_dbs, live_txns, live_sessions;


static jclass global_class(JNIEnv *env, const char *name) {
    jclass local = (*env)->FindClass(env, name);
    if (local == NULL) {
        return NULL;
    }
    jclass global = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    if (!(c_exception = global_class(env, "ziggydb/ZiggyException")) ||
        !(c_value = global_class(env, "ziggydb/Value")) ||
        !(c_native = global_class(env, "ziggydb/Native")) ||
        !(c_long = global_class(env, "java/lang/Long")) ||
        !(c_double = global_class(env, "java/lang/Double")) ||
        !(c_boolean = global_class(env, "java/lang/Boolean")) ||
        !(c_list = global_class(env, "java/util/ArrayList")) ||
        !(c_map = global_class(env, "java/util/LinkedHashMap")) ||
        !(c_set = global_class(env, "java/util/LinkedHashSet")) ||
        !(c_npe = global_class(env, "java/lang/NullPointerException")) ||
        !(c_oom = global_class(env, "java/lang/OutOfMemoryError"))) {
        return JNI_ERR;
    }
    if (!(m_from_native = (*env)->GetStaticMethodID(env, c_exception, "fromNative",
                                                    "(I[B)Lziggydb/ZiggyException;")) ||
        !(m_from_reply = (*env)->GetStaticMethodID(env, c_exception, "fromReply",
                                                   "([B)Lziggydb/ZiggyException;")) ||
        !(m_value_of_native = (*env)->GetStaticMethodID(env, c_value, "fromNative",
                                                        "(IJD[B)Lziggydb/Value;")) ||
        !(m_text = (*env)->GetStaticMethodID(env, c_native, "text", "([B)Ljava/lang/String;")) ||
        !(m_long_of = (*env)->GetStaticMethodID(env, c_long, "valueOf", "(J)Ljava/lang/Long;")) ||
        !(m_double_of =
              (*env)->GetStaticMethodID(env, c_double, "valueOf", "(D)Ljava/lang/Double;")) ||
        !(m_boolean_of =
              (*env)->GetStaticMethodID(env, c_boolean, "valueOf", "(Z)Ljava/lang/Boolean;")) ||
        !(m_list_new = (*env)->GetMethodID(env, c_list, "<init>", "(I)V")) ||
        !(m_list_add = (*env)->GetMethodID(env, c_list, "add", "(Ljava/lang/Object;)Z")) ||
        !(m_map_new = (*env)->GetMethodID(env, c_map, "<init>", "()V")) ||
        !(m_map_put = (*env)->GetMethodID(
              env, c_map, "put", "(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;")) ||
        !(m_set_new = (*env)->GetMethodID(env, c_set, "<init>", "()V")) ||
        !(m_set_add = (*env)->GetMethodID(env, c_set, "add", "(Ljava/lang/Object;)Z"))) {
        return JNI_ERR;
    }
    return JNI_VERSION_1_8;
}

/* ---------------------------------------------------------------------------------------
 * Errors. */

/* A Java byte[] copy of n bytes at p; NULL with an exception pending on failure. */
static jbyteArray new_bytes(JNIEnv *env, const void *p, size_t n);

/* Throws ZiggyException.fromNative(code, message). Anything going wrong on the way leaves
 * whatever exception that caused pending instead (an OutOfMemoryError at worst). */
static void throw_code(JNIEnv *env, int code, const char *message) {
    if ((*env)->ExceptionCheck(env)) {
        return;
    }
    jbyteArray text = new_bytes(env, message, strlen(message));
    if (text == NULL) {
        return;
    }
    jobject e = (*env)->CallStaticObjectMethod(env, c_exception, m_from_native, (jint)code, text);
    (*env)->DeleteLocalRef(env, text);
    if (e != NULL && !(*env)->ExceptionCheck(env)) {
        (*env)->Throw(env, (jthrowable)e);
        (*env)->DeleteLocalRef(env, e);
    }
}

/* Throws the exception of a failed C call: its code and this thread's ziggy_errmsg(). */
static void throw_status(JNIEnv *env, int rc) { throw_code(env, rc, ziggy_errmsg()); }

/* The exception for an error reply's text (not thrown); NULL with an exception pending. */
static jobject reply_exception(JNIEnv *env, const char *s, size_t n) {
    jbyteArray text = new_bytes(env, s, n);
    if (text == NULL) {
        return NULL;
    }
    jobject e = (*env)->CallStaticObjectMethod(env, c_exception, m_from_reply, text);
    (*env)->DeleteLocalRef(env, text);
    return (*env)->ExceptionCheck(env) ? NULL : e;
}

static jbyteArray new_bytes(JNIEnv *env, const void *p, size_t n) {
    if (n > (size_t)INT32_MAX - 8) {
        throw_code(env, ZIGGY_VALUE_TOO_LARGE, "the value is larger than a Java array can be");
        return NULL;
    }
    jbyteArray a = (*env)->NewByteArray(env, (jsize)n);
    if (a != NULL && n > 0) {
        (*env)->SetByteArrayRegion(env, a, 0, (jsize)n, (const jbyte *)p);
    }
    return a;
}

/* ---------------------------------------------------------------------------------------
 * Java byte[] arguments, copied into C memory for the call (a stack buffer when small). */

typedef struct {
    jbyte *p;
    size_t n;
    jbyte small[256];
} arg;

/* Copies `a` into `b`; -1 with an exception pending if `a` is null or memory runs out. */
static int arg_get(JNIEnv *env, jbyteArray a, arg *b, const char *what) {
    b->p = b->small;
    b->n = 0;
    if (a == NULL) {
        (*env)->ThrowNew(env, c_npe, what);
        return -1;
    }
    jsize n = (*env)->GetArrayLength(env, a);
    if (n > (jsize)sizeof b->small) {
        b->p = malloc((size_t)n);
        if (b->p == NULL) {
            b->p = b->small;
            (*env)->ThrowNew(env, c_oom, "no memory to pass an argument to ZiggyDB");
            return -1;
        }
    }
    b->n = (size_t)n;
    (*env)->GetByteArrayRegion(env, a, 0, n, b->p);
    return 0;
}

static void arg_free(arg *b) {
    if (b->p != b->small) {
        free(b->p);
    }
    b->p = b->small;
}

static ziggy_db *db_of(jlong h) { return (ziggy_db *)(intptr_t)h; }
static ziggy_txn *txn_of(jlong h) { return (ziggy_txn *)(intptr_t)h; }

/* A handle of 0 never reaches the C ABI: the Java side checks, this is the backstop. */
#define CHECK_HANDLE(h, ret)                                                                   \
    do {                                                                                       \
        if ((h) == 0) {                                                                        \
            throw_code(env, ZIGGY_INVALID_ARGUMENT, "the handle is closed");                   \
            return ret;                                                                        \
        }                                                                                      \
    } while (0)

/* ---------------------------------------------------------------------------------------
 * The calls, each on a database handle or a transaction: one implementation for both, the
 * handle's kind chosen by these small adapters. */

typedef int (*get_fn)(void *h, const void *k, size_t kl, void **v, size_t *vl);
typedef int (*set_fn)(void *h, const void *k, size_t kl, const void *v, size_t vl);
typedef int (*del_fn)(void *h, const void *k, size_t kl);
typedef int (*incr_fn)(void *h, const void *k, size_t kl, int64_t d, int64_t *out);
typedef int (*getv_fn)(void *h, const void *k, size_t kl, ziggy_value *out);
typedef int (*setv_fn)(void *h, const void *k, size_t kl, const ziggy_value *v);

static int db_get(void *h, const void *k, size_t kl, void **v, size_t *vl) {
    return ziggy_get(h, k, kl, v, vl);
}
static int txn_get(void *h, const void *k, size_t kl, void **v, size_t *vl) {
    return ziggy_txn_get(h, k, kl, v, vl);
}
static int db_set(void *h, const void *k, size_t kl, const void *v, size_t vl) {
    return ziggy_set(h, k, kl, v, vl);
}
static int txn_set(void *h, const void *k, size_t kl, const void *v, size_t vl) {
    return ziggy_txn_set(h, k, kl, v, vl);
}
static int db_del(void *h, const void *k, size_t kl) { return ziggy_del(h, k, kl); }
static int txn_del(void *h, const void *k, size_t kl) { return ziggy_txn_del(h, k, kl); }
static int db_incr(void *h, const void *k, size_t kl, int64_t d, int64_t *out) {
    return ziggy_incrby(h, k, kl, d, out);
}
static int txn_incr(void *h, const void *k, size_t kl, int64_t d, int64_t *out) {
    return ziggy_txn_incrby(h, k, kl, d, out);
}
static int db_getv(void *h, const void *k, size_t kl, ziggy_value *out) {
    return ziggy_get_value(h, k, kl, out);
}
static int txn_getv(void *h, const void *k, size_t kl, ziggy_value *out) {
    return ziggy_txn_get_value(h, k, kl, out);
}
static int db_setv(void *h, const void *k, size_t kl, const ziggy_value *v) {
    return ziggy_set_value(h, k, kl, v);
}
static int txn_setv(void *h, const void *k, size_t kl, const ziggy_value *v) {
    return ziggy_txn_set_value(h, k, kl, v);
}

static jbyteArray do_get(JNIEnv *env, get_fn f, void *h, jbyteArray key) {
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return NULL;
    }
    void *val = NULL;
    size_t vlen = 0;
    int rc = f(h, k.p, k.n, &val, &vlen);
    arg_free(&k);
    if (rc == ZIGGY_NOTFOUND) {
        return NULL;
    }
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    jbyteArray out = new_bytes(env, val, vlen);
    ziggy_free(val);
    return out;
}

static void do_set(JNIEnv *env, set_fn f, void *h, jbyteArray key, jbyteArray value) {
    arg k, v;
    if (arg_get(env, key, &k, "key") != 0) {
        return;
    }
    if (arg_get(env, value, &v, "value") != 0) {
        arg_free(&k);
        return;
    }
    int rc = f(h, k.p, k.n, v.p, v.n);
    arg_free(&k);
    arg_free(&v);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
    }
}

static jboolean do_del(JNIEnv *env, del_fn f, void *h, jbyteArray key) {
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return JNI_FALSE;
    }
    int rc = f(h, k.p, k.n);
    arg_free(&k);
    if (rc == ZIGGY_OK) {
        return JNI_TRUE;
    }
    if (rc != ZIGGY_NOTFOUND) {
        throw_status(env, rc);
    }
    return JNI_FALSE;
}

static jlong do_incr(JNIEnv *env, incr_fn f, void *h, jbyteArray key, jlong delta) {
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return 0;
    }
    int64_t out = 0;
    int rc = f(h, k.p, k.n, (int64_t)delta, &out);
    arg_free(&k);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
    }
    return (jlong)out;
}

static jobject do_get_value(JNIEnv *env, getv_fn f, void *h, jbyteArray key) {
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return NULL;
    }
    ziggy_value v = {0};
    int rc = f(h, k.p, k.n, &v);
    arg_free(&k);
    if (rc == ZIGGY_NOTFOUND) {
        return NULL;
    }
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    jbyteArray data = NULL;
    if (v.data != NULL) {
        data = new_bytes(env, v.data, v.len);
        ziggy_value_free(&v);
        if (data == NULL) {
            return NULL;
        }
    }
    jobject out = (*env)->CallStaticObjectMethod(env, c_value, m_value_of_native, (jint)v.vtype,
                                                 (jlong)v.integer, (jdouble)v.real, data);
    if (data != NULL) {
        (*env)->DeleteLocalRef(env, data);
    }
    return out;
}

static void do_set_value(JNIEnv *env, setv_fn f, void *h, jbyteArray key, jint vtype,
                         jlong integer, jdouble real, jbyteArray data) {
    arg k, d;
    if (arg_get(env, key, &k, "key") != 0) {
        return;
    }
    d.p = d.small;
    d.n = 0;
    if (data != NULL && arg_get(env, data, &d, "value") != 0) {
        arg_free(&k);
        return;
    }
    ziggy_value v = {
        .vtype = vtype, .integer = integer, .real = real, .data = d.p, .len = d.n};
    int rc = f(h, k.p, k.n, &v);
    arg_free(&k);
    arg_free(&d);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
    }
}

/* ---------------------------------------------------------------------------------------
 * Replies to Java objects. */

static jobject text_of(JNIEnv *env, const char *s, size_t n) {
    jbyteArray b = new_bytes(env, s, n);
    if (b == NULL) {
        return NULL;
    }
    jobject t = (*env)->CallStaticObjectMethod(env, c_native, m_text, b);
    (*env)->DeleteLocalRef(env, b);
    return t;
}

/* `r` as a Java object. An error reply nested in an array (EXEC's) becomes a ZiggyException
 * element, not thrown; the caller throws a top-level one. NULL is Java's null unless an
 * exception is pending. */
static jobject reply_to_java(JNIEnv *env, const ziggy_reply *r, int bulk_as_string, int depth) {
    size_t n = 0;
    const char *s;
    if (depth > 200) {
        throw_code(env, ZIGGY_EINTERNAL, "a reply nested more than 200 levels deep");
        return NULL;
    }
    switch (ziggy_reply_type(r)) {
    case ZIGGY_REPLY_NIL:
        return NULL;
    case ZIGGY_REPLY_INTEGER:
        return (*env)->CallStaticObjectMethod(env, c_long, m_long_of,
                                              (jlong)ziggy_reply_integer(r));
    case ZIGGY_REPLY_BOOL:
        return (*env)->CallStaticObjectMethod(env, c_boolean, m_boolean_of,
                                              ziggy_reply_integer(r) ? JNI_TRUE : JNI_FALSE);
    case ZIGGY_REPLY_DOUBLE:
        return (*env)->CallStaticObjectMethod(env, c_double, m_double_of,
                                              (jdouble)ziggy_reply_double(r));
    case ZIGGY_REPLY_BULK:
        s = ziggy_reply_str(r, &n);
        return bulk_as_string ? text_of(env, s, n) : (jobject)new_bytes(env, s, n);
    case ZIGGY_REPLY_STATUS:
    case ZIGGY_REPLY_VERBATIM:
        s = ziggy_reply_str(r, &n);
        return text_of(env, s, n);
    case ZIGGY_REPLY_ERROR:
        s = ziggy_reply_str(r, &n);
        return reply_exception(env, s, n);
    case ZIGGY_REPLY_ARRAY:
    case ZIGGY_REPLY_SET:
    case ZIGGY_REPLY_MAP: {
        int kind = ziggy_reply_type(r);
        size_t len = ziggy_reply_len(r);
        jobject out;
        if (kind == ZIGGY_REPLY_ARRAY) {
            out = (*env)->NewObject(env, c_list, m_list_new, (jint)(len > INT32_MAX ? 0 : len));
        } else if (kind == ZIGGY_REPLY_SET) {
            out = (*env)->NewObject(env, c_set, m_set_new);
        } else {
            out = (*env)->NewObject(env, c_map, m_map_new);
        }
        if (out == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < len; i++) {
            jobject e = reply_to_java(env, ziggy_reply_element(r, i), bulk_as_string, depth + 1);
            if ((*env)->ExceptionCheck(env)) {
                (*env)->DeleteLocalRef(env, out);
                return NULL;
            }
            if (kind == ZIGGY_REPLY_MAP) {
                i++;
                jobject v =
                    reply_to_java(env, ziggy_reply_element(r, i), bulk_as_string, depth + 1);
                if (!(*env)->ExceptionCheck(env)) {
                    jobject old = (*env)->CallObjectMethod(env, out, m_map_put, e, v);
                    if (old != NULL) {
                        (*env)->DeleteLocalRef(env, old);
                    }
                }
                if (v != NULL) {
                    (*env)->DeleteLocalRef(env, v);
                }
            } else {
                (*env)->CallBooleanMethod(env, out, kind == ZIGGY_REPLY_SET ? m_set_add : m_list_add,
                                          e);
            }
            if (e != NULL) {
                (*env)->DeleteLocalRef(env, e);
            }
            if ((*env)->ExceptionCheck(env)) {
                (*env)->DeleteLocalRef(env, out);
                return NULL;
            }
        }
        return out;
    }
    default: {
        /* A kind this layer does not know (a later library): its text if it has one. */
        s = ziggy_reply_str(r, &n);
        if (s != NULL) {
            return text_of(env, s, n);
        }
        char msg[96];
        snprintf(msg, sizeof msg, "a reply of a kind this binding does not know (%d, %s)",
                 ziggy_reply_type(r), ziggy_reply_type_name(ziggy_reply_type(r)));
        throw_code(env, ZIGGY_EINTERNAL, msg);
        return NULL;
    }
    }
}

typedef int (*exec_fn)(void *h, int argc, const char *const *argv, const size_t *argvlen,
                       ziggy_reply **out);

static int db_exec(void *h, int argc, const char *const *argv, const size_t *argvlen,
                   ziggy_reply **out) {
    return ziggy_exec(h, argc, argv, argvlen, out);
}
static int session_exec(void *h, int argc, const char *const *argv, const size_t *argvlen,
                        ziggy_reply **out) {
    return ziggy_session_exec(h, argc, argv, argvlen, out);
}
static int txn_exec(void *h, int argc, const char *const *argv, const size_t *argvlen,
                    ziggy_reply **out) {
    return ziggy_txn_exec(h, argc, argv, argvlen, out);
}

/* Runs one command of `args` (a byte[][]) with `f` and returns its reply as Java objects; an
 * error reply is thrown. */
static jobject do_exec(JNIEnv *env, exec_fn f, void *h, jobjectArray args, jboolean as_string) {
    if (args == NULL) {
        (*env)->ThrowNew(env, c_npe, "args");
        return NULL;
    }
    jsize argc = (*env)->GetArrayLength(env, args);
    if (argc <= 0) {
        throw_code(env, ZIGGY_INVALID_ARGUMENT, "a command needs at least its name");
        return NULL;
    }
    /* One block: the pointers, the lengths, then every argument's bytes. */
    size_t total = 0;
    for (jsize i = 0; i < argc; i++) {
        jbyteArray a = (jbyteArray)(*env)->GetObjectArrayElement(env, args, i);
        if (a == NULL) {
            (*env)->ThrowNew(env, c_npe, "a command argument is null");
            return NULL;
        }
        total += (size_t)(*env)->GetArrayLength(env, a);
        (*env)->DeleteLocalRef(env, a);
    }
    size_t head = (size_t)(uint32_t)argc * (sizeof(char *) + sizeof(size_t));
    _Alignas(16) char small[1024];
    char *block = head + total <= sizeof small ? small : malloc(head + total + 1);
    if (block == NULL) {
        (*env)->ThrowNew(env, c_oom, "no memory to pass a command to ZiggyDB");
        return NULL;
    }
    const char **argv = (const char **)(void *)block;
    size_t *argvlen = (size_t *)(void *)(block + (size_t)argc * sizeof(char *));
    char *bytes = block + head;
    size_t off = 0;
    for (jsize i = 0; i < argc; i++) {
        jbyteArray a = (jbyteArray)(*env)->GetObjectArrayElement(env, args, i);
        jsize n = a == NULL ? 0 : (*env)->GetArrayLength(env, a);
        /* Another thread may have changed the array meanwhile: never past what was counted. */
        if (a == NULL || off + (size_t)n > total) {
            if (block != small) {
                free(block);
            }
            throw_code(env, ZIGGY_INVALID_ARGUMENT, "the arguments changed during the call");
            return NULL;
        }
        (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)(bytes + off));
        (*env)->DeleteLocalRef(env, a);
        argv[i] = bytes + off;
        argvlen[i] = (size_t)n;
        off += (size_t)n;
    }
    ziggy_reply *reply = NULL;
    int rc = f(h, (int)argc, argv, argvlen, &reply);
    if (block != small) {
        free(block);
    }
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    jobject out = reply_to_java(env, reply, as_string, 0);
    if (out != NULL && ziggy_reply_type(reply) == ZIGGY_REPLY_ERROR &&
        !(*env)->ExceptionCheck(env)) {
        (*env)->Throw(env, (jthrowable)out);
        (*env)->DeleteLocalRef(env, out);
        out = NULL;
    }
    ziggy_reply_free(reply);
    return out;
}

/* ---------------------------------------------------------------------------------------
 * The native methods of ziggydb.Native. */

#define JNI_FN(name) JNICALL Java_ziggydb_Native_##name

JNIEXPORT jlong JNI_FN(open)(JNIEnv *env, jclass cls, jbyteArray path, jint durability,
                             jint batch_delay_ms, jlong lock_timeout_ms, jlong segment_size,
                             jboolean auto_compact, jlong active_expiry_ms, jboolean read_only,
                             jint mode) {
    (void)cls;
    arg p;
    if (arg_get(env, path, &p, "path") != 0) {
        return 0;
    }
    /* The path as a C string: a NUL inside it would silently shorten it. */
    char *cpath = malloc(p.n + 1);
    if (cpath == NULL) {
        arg_free(&p);
        (*env)->ThrowNew(env, c_oom, "no memory for the path");
        return 0;
    }
    memcpy(cpath, p.p, p.n);
    cpath[p.n] = 0;
    int has_nul = memchr(p.p, 0, p.n) != NULL;
    arg_free(&p);
    if (has_nul) {
        free(cpath);
        throw_code(env, ZIGGY_INVALID_ARGUMENT, "the path contains a NUL byte");
        return 0;
    }
    ziggy_options o;
    ziggy_options_init(&o);
    o.durability = durability;
    o.batch_delay_ms = (uint32_t)batch_delay_ms;
    o.lock_timeout_ms = lock_timeout_ms;
    o.segment_size = (uint64_t)segment_size;
    o.auto_compact = auto_compact != JNI_FALSE;
    o.active_expiry_ms = active_expiry_ms;
    o.read_only = read_only != JNI_FALSE;
    o.mode = (uint32_t)mode;
    ziggy_db *db = NULL;
    int rc = ziggy_open(cpath, &o, &db);
    free(cpath);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return 0;
    }
    atomic_fetch_add(&live_dbs, 1);
    return (jlong)(intptr_t)db;
}

JNIEXPORT void JNI_FN(close)(JNIEnv *env, jclass cls, jlong db) {
    (void)env;
    (void)cls;
    if (db != 0) {
        ziggy_close(db_of(db));
        atomic_fetch_sub(&live_dbs, 1);
    }
}

JNIEXPORT jlong JNI_FN(liveDatabases)(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return atomic_load(&live_dbs);
}

JNIEXPORT jlong JNI_FN(liveTransactions)(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return atomic_load(&live_txns);
}

JNIEXPORT jlong JNI_FN(liveSessions)(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return atomic_load(&live_sessions);
}

JNIEXPORT jbyteArray JNI_FN(version)(JNIEnv *env, jclass cls) {
    (void)cls;
    const char *v = ziggy_version();
    return new_bytes(env, v, strlen(v));
}

JNIEXPORT jbyteArray JNI_FN(errname)(JNIEnv *env, jclass cls, jint code) {
    (void)cls;
    const char *v = ziggy_errname(code);
    return new_bytes(env, v, strlen(v));
}

JNIEXPORT jbyteArray JNI_FN(get)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    return do_get(env, db_get, db_of(db), key);
}

JNIEXPORT jboolean JNI_FN(exists)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, JNI_FALSE);
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return JNI_FALSE;
    }
    int type = 0;
    int rc = ziggy_type(db_of(db), k.p, k.n, &type);
    arg_free(&k);
    if (rc != ZIGGY_OK && rc != ZIGGY_NOTFOUND) {
        throw_status(env, rc);
    }
    return rc == ZIGGY_OK ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jint JNI_FN(type)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, 0);
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return 0;
    }
    int type = ZIGGY_TYPE_NONE;
    int rc = ziggy_type(db_of(db), k.p, k.n, &type);
    arg_free(&k);
    if (rc != ZIGGY_OK && rc != ZIGGY_NOTFOUND) {
        throw_status(env, rc);
    }
    return type;
}

JNIEXPORT void JNI_FN(set)(JNIEnv *env, jclass cls, jlong db, jbyteArray key, jbyteArray value) {
    (void)cls;
    CHECK_HANDLE(db, );
    do_set(env, db_set, db_of(db), key, value);
}

JNIEXPORT jboolean JNI_FN(del)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, JNI_FALSE);
    return do_del(env, db_del, db_of(db), key);
}

JNIEXPORT jlong JNI_FN(incrby)(JNIEnv *env, jclass cls, jlong db, jbyteArray key, jlong delta) {
    (void)cls;
    CHECK_HANDLE(db, 0);
    return do_incr(env, db_incr, db_of(db), key, delta);
}

JNIEXPORT jobject JNI_FN(getValue)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    return do_get_value(env, db_getv, db_of(db), key);
}

JNIEXPORT void JNI_FN(setValue)(JNIEnv *env, jclass cls, jlong db, jbyteArray key, jint vtype,
                                jlong integer, jdouble real, jbyteArray data) {
    (void)cls;
    CHECK_HANDLE(db, );
    do_set_value(env, db_setv, db_of(db), key, vtype, integer, real, data);
}

/* ziggy_get_int / ziggy_get_float: a boxed Long / Double, or null when the key is missing. */
JNIEXPORT jobject JNI_FN(getLong)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return NULL;
    }
    int64_t out = 0;
    int rc = ziggy_get_int(db_of(db), k.p, k.n, &out);
    arg_free(&k);
    if (rc == ZIGGY_NOTFOUND) {
        return NULL;
    }
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    return (*env)->CallStaticObjectMethod(env, c_long, m_long_of, (jlong)out);
}

JNIEXPORT jobject JNI_FN(getDouble)(JNIEnv *env, jclass cls, jlong db, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    arg k;
    if (arg_get(env, key, &k, "key") != 0) {
        return NULL;
    }
    double out = 0;
    int rc = ziggy_get_float(db_of(db), k.p, k.n, &out);
    arg_free(&k);
    if (rc == ZIGGY_NOTFOUND) {
        return NULL;
    }
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    return (*env)->CallStaticObjectMethod(env, c_double, m_double_of, (jdouble)out);
}

JNIEXPORT jobject JNI_FN(exec)(JNIEnv *env, jclass cls, jlong db, jobjectArray args,
                               jboolean as_string) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    return do_exec(env, db_exec, db_of(db), args, as_string);
}

JNIEXPORT void JNI_FN(sync)(JNIEnv *env, jclass cls, jlong db) {
    (void)cls;
    CHECK_HANDLE(db, );
    int rc = ziggy_sync(db_of(db));
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
    }
}

/* Maintenance: each fills the caller's long[] with its struct's counters, in order. */

static int fill_longs(JNIEnv *env, jlongArray out, const uint64_t *v, jsize n) {
    if (out == NULL || (*env)->GetArrayLength(env, out) < n) {
        throw_code(env, ZIGGY_INVALID_ARGUMENT, "the counters' array is too short");
        return -1;
    }
    jlong tmp[16];
    for (jsize i = 0; i < n && i < 16; i++) {
        tmp[i] = (jlong)v[i];
    }
    (*env)->SetLongArrayRegion(env, out, 0, n, tmp);
    return 0;
}

JNIEXPORT void JNI_FN(metrics)(JNIEnv *env, jclass cls, jlong db, jlongArray out) {
    (void)cls;
    CHECK_HANDLE(db, );
    ziggy_metrics m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    int rc = ziggy_db_metrics(db_of(db), &m);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return;
    }
    uint64_t v[] = {m.keys,     m.live_bytes, m.dead_bytes,  m.segments, m.segment_file_bytes,
                    m.commits,  m.rollbacks,  m.reads,       m.hits,     m.misses,
                    m.compactions, m.expired, m.processes,   m.commands};
    fill_longs(env, out, v, (jsize)(sizeof v / sizeof v[0]));
}

JNIEXPORT void JNI_FN(compact)(JNIEnv *env, jclass cls, jlong db, jlongArray out) {
    (void)cls;
    CHECK_HANDLE(db, );
    ziggy_compact_stats c;
    memset(&c, 0, sizeof c);
    int rc = ziggy_compact(db_of(db), &c);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return;
    }
    uint64_t v[] = {c.segments_removed, c.segments_written, c.records_copied, c.bytes_before,
                    c.bytes_after};
    fill_longs(env, out, v, (jsize)(sizeof v / sizeof v[0]));
}

JNIEXPORT void JNI_FN(backup)(JNIEnv *env, jclass cls, jlong db, jbyteArray dest,
                              jlongArray out) {
    (void)cls;
    CHECK_HANDLE(db, );
    arg p;
    if (arg_get(env, dest, &p, "dest") != 0) {
        return;
    }
    char *cpath = malloc(p.n + 1);
    if (cpath == NULL) {
        arg_free(&p);
        (*env)->ThrowNew(env, c_oom, "no memory for the path");
        return;
    }
    memcpy(cpath, p.p, p.n);
    cpath[p.n] = 0;
    int has_nul = memchr(p.p, 0, p.n) != NULL;
    arg_free(&p);
    if (has_nul) {
        free(cpath);
        throw_code(env, ZIGGY_INVALID_ARGUMENT, "the path contains a NUL byte");
        return;
    }
    ziggy_backup_stats b;
    memset(&b, 0, sizeof b);
    int rc = ziggy_backup(db_of(db), cpath, &b);
    free(cpath);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return;
    }
    uint64_t v[] = {b.segments, b.bytes, b.keys};
    fill_longs(env, out, v, (jsize)(sizeof v / sizeof v[0]));
}

/* The problems' text (null when there are none); the counts in `out`. */
JNIEXPORT jbyteArray JNI_FN(check)(JNIEnv *env, jclass cls, jlong db, jlongArray out) {
    (void)cls;
    CHECK_HANDLE(db, NULL);
    ziggy_check_report r;
    memset(&r, 0, sizeof r);
    char *problems = NULL;
    int rc = ziggy_check(db_of(db), &r, &problems);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    jbyteArray text = NULL;
    uint64_t v[] = {r.records, r.keys, r.problems};
    if (fill_longs(env, out, v, (jsize)(sizeof v / sizeof v[0])) == 0 && problems != NULL) {
        text = new_bytes(env, problems, strlen(problems));
    }
    ziggy_free(problems);
    return text;
}

/* Transactions. */

JNIEXPORT jlong JNI_FN(txnBegin)(JNIEnv *env, jclass cls, jlong db) {
    (void)cls;
    CHECK_HANDLE(db, 0);
    ziggy_txn *txn = NULL;
    int rc = ziggy_txn_begin(db_of(db), &txn);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return 0;
    }
    atomic_fetch_add(&live_txns, 1);
    return (jlong)(intptr_t)txn;
}

JNIEXPORT void JNI_FN(txnCommit)(JNIEnv *env, jclass cls, jlong txn) {
    (void)cls;
    CHECK_HANDLE(txn, );
    int rc = ziggy_txn_commit(txn_of(txn));
    atomic_fetch_sub(&live_txns, 1);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
    }
}

JNIEXPORT void JNI_FN(txnRollback)(JNIEnv *env, jclass cls, jlong txn) {
    (void)env;
    (void)cls;
    if (txn != 0) {
        ziggy_txn_rollback(txn_of(txn));
        atomic_fetch_sub(&live_txns, 1);
    }
}

JNIEXPORT jbyteArray JNI_FN(txnGet)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(txn, NULL);
    return do_get(env, txn_get, txn_of(txn), key);
}

JNIEXPORT void JNI_FN(txnSet)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key,
                              jbyteArray value) {
    (void)cls;
    CHECK_HANDLE(txn, );
    do_set(env, txn_set, txn_of(txn), key, value);
}

JNIEXPORT jboolean JNI_FN(txnDel)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(txn, JNI_FALSE);
    return do_del(env, txn_del, txn_of(txn), key);
}

JNIEXPORT jlong JNI_FN(txnIncrby)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key,
                                  jlong delta) {
    (void)cls;
    CHECK_HANDLE(txn, 0);
    return do_incr(env, txn_incr, txn_of(txn), key, delta);
}

JNIEXPORT jobject JNI_FN(txnGetValue)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key) {
    (void)cls;
    CHECK_HANDLE(txn, NULL);
    return do_get_value(env, txn_getv, txn_of(txn), key);
}

JNIEXPORT void JNI_FN(txnSetValue)(JNIEnv *env, jclass cls, jlong txn, jbyteArray key,
                                   jint vtype, jlong integer, jdouble real, jbyteArray data) {
    (void)cls;
    CHECK_HANDLE(txn, );
    do_set_value(env, txn_setv, txn_of(txn), key, vtype, integer, real, data);
}

JNIEXPORT jobject JNI_FN(txnExec)(JNIEnv *env, jclass cls, jlong txn, jobjectArray args,
                                  jboolean as_string) {
    (void)cls;
    CHECK_HANDLE(txn, NULL);
    return do_exec(env, txn_exec, txn_of(txn), args, as_string);
}

/* Sessions. */

JNIEXPORT jlong JNI_FN(sessionOpen)(JNIEnv *env, jclass cls, jlong db) {
    (void)cls;
    CHECK_HANDLE(db, 0);
    ziggy_session *s = NULL;
    int rc = ziggy_session_open(db_of(db), &s);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return 0;
    }
    atomic_fetch_add(&live_sessions, 1);
    return (jlong)(intptr_t)s;
}

JNIEXPORT void JNI_FN(sessionClose)(JNIEnv *env, jclass cls, jlong s) {
    (void)env;
    (void)cls;
    if (s != 0) {
        ziggy_session_close((ziggy_session *)(intptr_t)s);
        atomic_fetch_sub(&live_sessions, 1);
    }
}

JNIEXPORT jobject JNI_FN(sessionExec)(JNIEnv *env, jclass cls, jlong s, jobjectArray args,
                                      jboolean as_string) {
    (void)cls;
    CHECK_HANDLE(s, NULL);
    return do_exec(env, session_exec, (ziggy_session *)(intptr_t)s, args, as_string);
}

/* The session's next Pub/Sub message as a List (as sessionExec gives replies), or null if
 * none came within timeout_ms (negative: until one comes). */
JNIEXPORT jobject JNI_FN(sessionNextMessage)(JNIEnv *env, jclass cls, jlong s, jlong timeout_ms,
                                             jboolean as_string) {
    (void)cls;
    CHECK_HANDLE(s, NULL);
    ziggy_reply *reply = NULL;
    int rc = ziggy_session_next_message((ziggy_session *)(intptr_t)s, (int64_t)timeout_ms, &reply);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return NULL;
    }
    if (reply == NULL) {
        return NULL;
    }
    jobject out = reply_to_java(env, reply, as_string, 0);
    if (out != NULL && ziggy_reply_type(reply) == ZIGGY_REPLY_ERROR &&
        !(*env)->ExceptionCheck(env)) {
        (*env)->Throw(env, (jthrowable)out);
        (*env)->DeleteLocalRef(env, out);
        out = NULL;
    }
    ziggy_reply_free(reply);
    return out;
}

JNIEXPORT jlong JNI_FN(interrupterOpen)(JNIEnv *env, jclass cls, jlong s) {
    (void)cls;
    CHECK_HANDLE(s, 0);
    ziggy_interrupter *i = NULL;
    int rc = ziggy_session_interrupter((ziggy_session *)(intptr_t)s, &i);
    if (rc != ZIGGY_OK) {
        throw_status(env, rc);
        return 0;
    }
    return (jlong)(intptr_t)i;
}

JNIEXPORT void JNI_FN(interrupt)(JNIEnv *env, jclass cls, jlong i) {
    (void)env;
    (void)cls;
    ziggy_interrupt((const ziggy_interrupter *)(intptr_t)i);
}

JNIEXPORT void JNI_FN(interrupterFree)(JNIEnv *env, jclass cls, jlong i) {
    (void)env;
    (void)cls;
    ziggy_interrupter_free((ziggy_interrupter *)(intptr_t)i);
}
