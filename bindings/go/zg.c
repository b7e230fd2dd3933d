// The C side of the cgo layer (see cgo.go): one helper per library call.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zg.h"


static void zg_fail(zg_res *r) {
    if (r->rc >= ZIGGY_EINTERNAL) r->err = strdup(ziggy_errmsg());
}

// Copies `len` bytes at `p` (from the library) into dst when they fit, and frees them;
// else leaves them in r->ptr for the caller.
static void zg_take(zg_res *r, void *p, size_t len, void *dst, size_t cap) {
    r->len = len;
    if (p != NULL && len <= cap) {
        if (len > 0) memcpy(dst, p, len);
        ziggy_free(p);
        r->ptr = NULL;
    } else {
        r->ptr = p;
    }
}

zg_res zg_open(const char *path, int custom, ziggy_options o, ziggy_db **out) {
    zg_res r = {0};
    if (custom) o.size = sizeof(ziggy_options);
    r.rc = ziggy_open(path, custom ? &o : NULL, out);
    zg_fail(&r);
    return r;
}

ziggy_options zg_options_default(void) {
    ziggy_options o;
    ziggy_options_init(&o);
    return o;
}

zg_res zg_get(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, void *dst, size_t cap) {
    zg_res r = {0};
    void *v = NULL;
    size_t vl = 0;
    r.rc = tx ? ziggy_txn_get(tx, k, kl, &v, &vl) : ziggy_get(db, k, kl, &v, &vl);
    if (r.rc == ZIGGY_OK) zg_take(&r, v, vl, dst, cap);
    zg_fail(&r);
    return r;
}

zg_res zg_set(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, const void *v, size_t vl) {
    zg_res r = {0};
    r.rc = tx ? ziggy_txn_set(tx, k, kl, v, vl) : ziggy_set(db, k, kl, v, vl);
    zg_fail(&r);
    return r;
}

zg_res zg_del(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl) {
    zg_res r = {0};
    r.rc = tx ? ziggy_txn_del(tx, k, kl) : ziggy_del(db, k, kl);
    zg_fail(&r);
    return r;
}

zg_res zg_incrby(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, int64_t d) {
    zg_res r = {0};
    int64_t out = 0;
    r.rc = tx ? ziggy_txn_incrby(tx, k, kl, d, &out) : ziggy_incrby(db, k, kl, d, &out);
    r.integer = out;
    zg_fail(&r);
    return r;
}

zg_res zg_get_value(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, void *dst, size_t cap) {
    zg_res r = {0};
    ziggy_value v = {0};
    r.rc = tx ? ziggy_txn_get_value(tx, k, kl, &v) : ziggy_get_value(db, k, kl, &v);
    if (r.rc == ZIGGY_OK) {
        r.vtype = v.vtype;
        r.integer = v.integer;
        r.real = v.real;
        zg_take(&r, (void *)v.data, v.len, dst, cap);
    }
    zg_fail(&r);
    return r;
}

zg_res zg_set_value(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl,
                  int vtype, int64_t integer, double real, const void *data, size_t len) {
    zg_res r = {0};
    ziggy_value v = {vtype, integer, real, data, len};
    r.rc = tx ? ziggy_txn_set_value(tx, k, kl, &v) : ziggy_set_value(db, k, kl, &v);
    zg_fail(&r);
    return r;
}

zg_res zg_get_int(ziggy_db *db, const void *k, size_t kl) {
    zg_res r = {0};
    int64_t out = 0;
    r.rc = ziggy_get_int(db, k, kl, &out);
    r.integer = out;
    zg_fail(&r);
    return r;
}

zg_res zg_get_float(ziggy_db *db, const void *k, size_t kl) {
    zg_res r = {0};
    double out = 0;
    r.rc = ziggy_get_float(db, k, kl, &out);
    r.real = out;
    zg_fail(&r);
    return r;
}

zg_res zg_type(ziggy_db *db, const void *k, size_t kl) {
    zg_res r = {0};
    int t = 0;
    r.rc = ziggy_type(db, k, kl, &t);
    r.vtype = t;
    zg_fail(&r);
    return r;
}

zg_res zg_txn_begin(ziggy_db *db, ziggy_txn **out) {
    zg_res r = {0};
    r.rc = ziggy_txn_begin(db, out);
    zg_fail(&r);
    return r;
}

zg_res zg_txn_commit(ziggy_txn *tx) {
    zg_res r = {0};
    r.rc = ziggy_txn_commit(tx);
    zg_fail(&r);
    return r;
}

zg_res zg_sync(ziggy_db *db) {
    zg_res r = {0};
    r.rc = ziggy_sync(db);
    zg_fail(&r);
    return r;
}

// A reply, flattened for Go: one byte of kind (ZIGGY_REPLY_*), then for INTEGER and BOOL
// 8 bytes of int64, for DOUBLE 8 bytes of the float64's bits, for BULK, STATUS, ERROR and
// VERBATIM 8 bytes of length and the bytes, for ARRAY, SET and MAP 8 bytes of the element
// count (a map's keys and values) and the elements; NIL has nothing more. Little-endian.
static size_t zg_flat_size(const ziggy_reply *r) {
    switch (ziggy_reply_type(r)) {
    case ZIGGY_REPLY_INTEGER: case ZIGGY_REPLY_BOOL: case ZIGGY_REPLY_DOUBLE:
        return 9;
    case ZIGGY_REPLY_BULK: case ZIGGY_REPLY_STATUS: case ZIGGY_REPLY_ERROR:
    case ZIGGY_REPLY_VERBATIM: {
        size_t len = 0;
        ziggy_reply_str(r, &len);
        return 9 + len;
    }
    case ZIGGY_REPLY_ARRAY: case ZIGGY_REPLY_SET: case ZIGGY_REPLY_MAP: {
        size_t n = ziggy_reply_len(r), total = 9;
        for (size_t i = 0; i < n; i++) total += zg_flat_size(ziggy_reply_element(r, i));
        return total;
    }
    default:
        return 1;
    }
}

static unsigned char *zg_put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

static unsigned char *zg_flatten(const ziggy_reply *r, unsigned char *p) {
    int kind = ziggy_reply_type(r);
    *p++ = (unsigned char)kind;
    switch (kind) {
    case ZIGGY_REPLY_INTEGER: case ZIGGY_REPLY_BOOL:
        return zg_put64(p, (uint64_t)ziggy_reply_integer(r));
    case ZIGGY_REPLY_DOUBLE: {
        double d = ziggy_reply_double(r);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        return zg_put64(p, bits);
    }
    case ZIGGY_REPLY_BULK: case ZIGGY_REPLY_STATUS: case ZIGGY_REPLY_ERROR:
    case ZIGGY_REPLY_VERBATIM: {
        size_t len = 0;
        const char *s = ziggy_reply_str(r, &len);
        p = zg_put64(p, len);
        if (len > 0) memcpy(p, s, len);
        return p + len;
    }
    case ZIGGY_REPLY_ARRAY: case ZIGGY_REPLY_SET: case ZIGGY_REPLY_MAP: {
        size_t n = ziggy_reply_len(r);
        p = zg_put64(p, n);
        for (size_t i = 0; i < n; i++) p = zg_flatten(ziggy_reply_element(r, i), p);
        return p;
    }
    default:
        return p;
    }
}

// Runs argv (argc arguments: lens[i] bytes each, one after another in data) with
// ziggy_exec, or with ziggy_txn_exec inside tx when tx is not NULL, and flattens the reply
// into dst when it fits (r.ptr NULL) or else into memory from malloc (r.ptr, freed with
// free); r.len is the flat reply's size.
zg_res zg_exec(ziggy_db *db, ziggy_txn *tx, int argc,
               const char *data, const size_t *lens, void *dst, size_t cap) {
    zg_res r = {0};
    const char *small[16];
    const char **argv = small;
    if (argc > 16) {
        argv = malloc(sizeof(char *) * (size_t)argc);
        if (argv == NULL) {
            r.rc = ZIGGY_OUT_OF_MEMORY;
            r.err = strdup("out of memory for the arguments");
            return r;
        }
    }
    const char *p = data != NULL ? data : "";
    for (int i = 0; i < argc; i++) {
        argv[i] = p;
        p += lens[i];
    }
    ziggy_reply *reply = NULL;
    if (tx != NULL)
        r.rc = ziggy_txn_exec(tx, argc, argv, lens, &reply);
    else
        r.rc = ziggy_exec(db, argc, argv, lens, &reply);
    zg_fail(&r);
    if (argv != small) free(argv);
    if (r.rc != ZIGGY_OK) return r;
    size_t size = zg_flat_size(reply);
    unsigned char *out = dst;
    if (size > cap) {
        out = malloc(size);
        if (out == NULL) {
            ziggy_reply_free(reply);
            r.rc = ZIGGY_OUT_OF_MEMORY;
            r.err = strdup("out of memory for the reply");
            return r;
        }
        r.ptr = out;
    }
    zg_flatten(reply, out);
    ziggy_reply_free(reply);
    r.len = size;
    return r;
}

// Flattens reply into dst when it fits (r.ptr NULL) or else into memory from malloc (r.ptr,
// freed with free), and frees it; r.len is the flat reply's size.
static zg_res zg_deliver(zg_res r, ziggy_reply *reply, void *dst, size_t cap) {
    size_t size = zg_flat_size(reply);
    unsigned char *out = dst;
    if (size > cap) {
        out = malloc(size);
        if (out == NULL) {
            ziggy_reply_free(reply);
            r.rc = ZIGGY_OUT_OF_MEMORY;
            r.err = strdup("out of memory for the reply");
            return r;
        }
        r.ptr = out;
    }
    zg_flatten(reply, out);
    ziggy_reply_free(reply);
    r.len = size;
    return r;
}

zg_res zg_session_open(ziggy_db *db, ziggy_session **out) {
    zg_res r = {0};
    r.rc = ziggy_session_open(db, out);
    zg_fail(&r);
    return r;
}

zg_res zg_interrupter(ziggy_session *s, ziggy_interrupter **out) {
    zg_res r = {0};
    r.rc = ziggy_session_interrupter(s, out);
    zg_fail(&r);
    return r;
}

// zg_exec in session s.
zg_res zg_session_exec(ziggy_session *s, int argc, const char *data, const size_t *lens,
                       void *dst, size_t cap) {
    zg_res r = {0};
    const char *small[16];
    const char **argv = small;
    if (argc > 16) {
        argv = malloc(sizeof(char *) * (size_t)argc);
        if (argv == NULL) {
            r.rc = ZIGGY_OUT_OF_MEMORY;
            r.err = strdup("out of memory for the arguments");
            return r;
        }
    }
    const char *p = data != NULL ? data : "";
    for (int i = 0; i < argc; i++) {
        argv[i] = p;
        p += lens[i];
    }
    ziggy_reply *reply = NULL;
    r.rc = ziggy_session_exec(s, argc, argv, lens, &reply);
    zg_fail(&r);
    if (argv != small) free(argv);
    if (r.rc != ZIGGY_OK) return r;
    return zg_deliver(r, reply, dst, cap);
}

// The session's next Pub/Sub message, flattened as by zg_exec; r.vtype is 1 if one came, 0
// if none did within timeout_ms.
zg_res zg_next_message(ziggy_session *s, int64_t timeout_ms, void *dst, size_t cap) {
    zg_res r = {0};
    ziggy_reply *reply = NULL;
    r.rc = ziggy_session_next_message(s, timeout_ms, &reply);
    zg_fail(&r);
    if (r.rc != ZIGGY_OK || reply == NULL) return r;
    r.vtype = 1;
    return zg_deliver(r, reply, dst, cap);
}
