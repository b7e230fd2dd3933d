/*
 * The C worker of the all-languages test: processes in every language open one database
 * directory at the same moment, each writes typed values, increments a shared counter,
 * appends to a shared list in transactions, waits for its peers and reads back every peer's
 * typed values with their types.
 *
 *   alllang_worker DIR NAME PEERS
 *
 * DIR is the database directory, NAME this worker's name ("c"), PEERS the comma-separated
 * names of every worker in the run (NAME among them). Prints "NAME ok" and exits 0 when
 * everything checked out; otherwise one line per problem on stderr, exit 1.
 *
 * Build (static, from the repository root after cargo build --release -p ziggydb-c):
 *   gcc -O2 -Icrates/ziggydb-c/include crates/ziggydb-c/examples/c/alllang_worker.c \
 *       target/release/libziggydb.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -o alllang_worker
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ziggydb.h"

#define INT_VALUE INT64_C(-9007199254740993)
#define TIMESTAMP_MS INT64_C(1767225600123)
static const char BYTES_VALUE[7] = {0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, (char)0xff};

static const char *name;
static int problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    problems++;
}

/* Fails the run for a call that must not fail. */
static int check(int rc, const char *what) {
    if (rc == ZIGGY_OK) return 1;
    problem("%s: %s (%s)", what, rc == ZIGGY_NOTFOUND ? "not found" : ziggy_errmsg(),
            ziggy_errname(rc));
    return 0;
}

static void typed_key(char *buf, size_t cap, const char *who, const char *kind) {
    snprintf(buf, cap, "typed:%s:%s", who, kind);
}

static int set_typed(ziggy_db *db, const char *kind, ziggy_value v) {
    char key[256];
    typed_key(key, sizeof key, name, kind);
    return check(ziggy_set_value(db, key, strlen(key), &v), kind);
}

static void json_doc(char *buf, size_t cap, const char *who) {
    snprintf(buf, cap, "{\"lang\":\"%s\",\"list\":[1,2.5,null,true,\"x\"]}", who);
}

/* The text without whitespace, into out (of cap bytes). */
static void strip_ws(const char *in, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++)
        if (!isspace((unsigned char)in[i])) out[o++] = in[i];
    out[o] = 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void check_peer(ziggy_db *db, const char *p) {
    static const char *kinds[] = {"int", "float", "bool", "timestamp", "json", "bytes", "string"};
    static const int types[] = {ZIGGY_TYPE_INT, ZIGGY_TYPE_FLOAT, ZIGGY_TYPE_BOOL,
                                ZIGGY_TYPE_TIMESTAMP, ZIGGY_TYPE_JSON, ZIGGY_TYPE_BYTES,
                                ZIGGY_TYPE_STRING};
    for (int k = 0; k < 7; k++) {
        char key[256];
        typed_key(key, sizeof key, p, kinds[k]);
        ziggy_value v = {0};
        int rc = ziggy_get_value(db, key, strlen(key), &v);
        if (rc != ZIGGY_OK) {
            problem("peer %s %s: expected a value, read %s (%s)", p, kinds[k],
                    rc == ZIGGY_NOTFOUND ? "nothing" : ziggy_errmsg(), ziggy_errname(rc));
            continue;
        }
        if (v.vtype != types[k]) {
            problem("peer %s %s: expected type %d, read type %d", p, kinds[k], types[k], v.vtype);
            ziggy_value_free(&v);
            continue;
        }
        switch (types[k]) {
        case ZIGGY_TYPE_INT:
            if (v.integer != INT_VALUE)
                problem("peer %s int: expected %" PRId64 ", read %" PRId64, p, INT_VALUE, v.integer);
            break;
        case ZIGGY_TYPE_FLOAT: {
            double want = 0.1;
            if (memcmp(&v.real, &want, sizeof want) != 0)
                problem("peer %s float: expected 0.1 bit-exactly, read %.17g", p, v.real);
            break;
        }
        case ZIGGY_TYPE_BOOL:
            if (v.integer != 1) problem("peer %s bool: expected true, read %" PRId64, p, v.integer);
            break;
        case ZIGGY_TYPE_TIMESTAMP:
            if (v.integer != TIMESTAMP_MS)
                problem("peer %s timestamp: expected %" PRId64 " ms, read %" PRId64, p,
                        TIMESTAMP_MS, v.integer);
            break;
        case ZIGGY_TYPE_JSON: {
            char want[256], got[1024];
            json_doc(want, sizeof want, p);
            strip_ws(v.data, v.len, got, sizeof got);
            if (v.len >= sizeof got || strcmp(got, want) != 0)
                problem("peer %s json: expected %s, read %.*s", p, want, (int)v.len,
                        (const char *)v.data);
            break;
        }
        case ZIGGY_TYPE_BYTES:
            if (v.len != sizeof BYTES_VALUE || memcmp(v.data, BYTES_VALUE, v.len) != 0)
                problem("peer %s bytes: expected the 7 bytes 7a 69 67 00 67 79 ff, read %zu bytes",
                        p, v.len);
            break;
        case ZIGGY_TYPE_STRING: {
            char want[256];
            snprintf(want, sizeof want, "ziggy \xe2\x9c\x93 %s", p);
            if (v.len != strlen(want) || memcmp(v.data, want, v.len) != 0)
                problem("peer %s string: expected \"%s\", read \"%.*s\"", p, want, (int)v.len,
                        (const char *)v.data);
            break;
        }
        }
        ziggy_value_free(&v);
    }
}

static int run(ziggy_db *db, char *peers) {
    /* 2. The typed values, each its own commit. */
    char doc[256], text[256];
    json_doc(doc, sizeof doc, name);
    snprintf(text, sizeof text, "ziggy \xe2\x9c\x93 %s", name);
    if (!set_typed(db, "int", (ziggy_value){.vtype = ZIGGY_TYPE_INT, .integer = INT_VALUE}) ||
        !set_typed(db, "float", (ziggy_value){.vtype = ZIGGY_TYPE_FLOAT, .real = 0.1}) ||
        !set_typed(db, "bool", (ziggy_value){.vtype = ZIGGY_TYPE_BOOL, .integer = 1}) ||
        !set_typed(db, "timestamp",
                   (ziggy_value){.vtype = ZIGGY_TYPE_TIMESTAMP, .integer = TIMESTAMP_MS}) ||
        !set_typed(db, "json", (ziggy_value){.vtype = ZIGGY_TYPE_JSON, .data = doc, .len = strlen(doc)}) ||
        !set_typed(db, "bytes", (ziggy_value){.vtype = ZIGGY_TYPE_BYTES, .data = BYTES_VALUE,
                                              .len = sizeof BYTES_VALUE}) ||
        !set_typed(db, "string",
                   (ziggy_value){.vtype = ZIGGY_TYPE_STRING, .data = text, .len = strlen(text)}))
        return 0;

    /* 3, 4. The counters. */
    if (!check(ziggy_incrby(db, "all:ready", 9, 1, NULL), "incr all:ready")) return 0;
    for (int i = 0; i < 500; i++)
        if (!check(ziggy_incrby(db, "all:counter", 11, 1, NULL), "incr all:counter")) return 0;

    /* 5. The list, one transaction per entry. */
    for (int i = 0; i < 100; i++) {
        char entry[128];
        snprintf(entry, sizeof entry, "%s:%d", name, i);
        ziggy_txn *tx = NULL;
        if (!check(ziggy_txn_begin(db, &tx), "begin")) return 0;
        const char *argv[] = {"RPUSH", "all:list", entry};
        ziggy_reply *reply = NULL;
        int rc = ziggy_txn_exec(tx, 3, argv, NULL, &reply);
        if (rc != ZIGGY_OK || ziggy_reply_type(reply) != ZIGGY_REPLY_INTEGER) {
            problem("transaction %d: RPUSH: %s", i,
                    rc != ZIGGY_OK ? ziggy_errmsg() : ziggy_reply_str(reply, NULL));
            ziggy_reply_free(reply);
            ziggy_txn_rollback(tx);
            return 0;
        }
        ziggy_reply_free(reply);
        if (!check(ziggy_txn_commit(tx), "commit")) return 0;
    }

    /* 6. Done; wait for every peer. */
    int npeers = 1;
    for (const char *c = peers; *c; c++) npeers += *c == ',';
    if (!check(ziggy_incrby(db, "all:done", 8, 1, NULL), "incr all:done")) return 0;
    for (int waited = 0;; waited += 10) {
        int64_t done = 0;
        int rc = ziggy_get_int(db, "all:done", 8, &done);
        if (rc != ZIGGY_OK) return check(rc, "get all:done");
        if (done >= npeers) break;
        if (waited >= 120000) {
            problem("timed out waiting for peers");
            return 0;
        }
        sleep_ms(10);
    }

    /* 7. Every peer's typed values. */
    for (char *p = strtok(peers, ","); p != NULL; p = strtok(NULL, ",")) check_peer(db, p);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR NAME PEERS\n", argv[0]);
        return 2;
    }
    name = argv[2];
    /* 1. Open with default options. */
    ziggy_db *db = NULL;
    if (!check(ziggy_open(argv[1], NULL, &db), "open")) return 1;
    run(db, argv[3]);
    ziggy_close(db);
    if (problems) return 1;
    printf("%s ok\n", name);
    return 0;
}
