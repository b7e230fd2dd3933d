/*
 * The C API from C: every function, every reply kind a command gives, binary keys and values,
 * errors, NULL where the header allows it, threads sharing one ziggy_db.
 *
 * Usage: api_test DIR      (DIR: an empty scratch directory)
 * Prints each failed check and "N passed, M failed"; exits 1 if any failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ziggydb.h"

/* Only in a library built with the test-hooks feature; not in the header. */
extern int ziggy_test_panic(void);

static int passed, failed;

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (cond) {                                                                         \
            passed++;                                                                       \
        } else {                                                                            \
            failed++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, ziggy_errmsg());                                                 \
        }                                                                                   \
    } while (0)

#define CHECK_RC(call, want)                                                                \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ == (want)) {                                                                \
            passed++;                                                                       \
        } else {                                                                            \
            failed++;                                                                       \
            fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %s: %s\n", __FILE__, __LINE__, \
                    #call, rc_, ziggy_errname(rc_), #want, ziggy_errmsg());                 \
        }                                                                                   \
    } while (0)

static char base[2048];

static void path_of(char *out, const char *name) {
    snprintf(out, 4096, "%s/%s", base, name);
}

/* Runs argv (NUL-terminated strings) through ziggy_exec. */
static ziggy_reply *run(ziggy_db *db, int argc, const char *const *argv) {
    ziggy_reply *r = NULL;
    CHECK_RC(ziggy_exec(db, argc, argv, NULL, &r), ZIGGY_OK);
    return r;
}

static int reply_is(const ziggy_reply *r, int kind, const char *text) {
    size_t len = 0;
    const char *s = ziggy_reply_str(r, &len);
    if (ziggy_reply_type(r) != kind) return 0;
    if (text == NULL) return 1;
    return s != NULL && len == strlen(text) && memcmp(s, text, len) == 0 && s[len] == '\0';
}

static void test_names(void) {
    CHECK(strcmp(ziggy_errname(ZIGGY_OK), "OK") == 0);
    CHECK(strcmp(ziggy_errname(ZIGGY_NOTFOUND), "NOTFOUND") == 0);
    CHECK(strcmp(ziggy_errname(ZIGGY_EINTERNAL), "EINTERNAL") == 0);
    CHECK(strcmp(ziggy_errname(ZIGGY_WRONG_TYPE), "WRONG_TYPE") == 0);
    CHECK(strcmp(ziggy_errname(ZIGGY_BUSY), "BUSY") == 0);
    CHECK(strcmp(ziggy_errname(-5), "UNKNOWN") == 0);
    CHECK(strcmp(ziggy_version(), "0.3.0") == 0);
    CHECK(strcmp(ziggy_reply_type_name(ZIGGY_REPLY_MAP), "MAP") == 0);
    CHECK(strcmp(ziggy_reply_type_name(99), "UNKNOWN") == 0);
    CHECK(ziggy_errmsg() != NULL);
}

static void test_panic(void) {
    CHECK_RC(ziggy_test_panic(), ZIGGY_EINTERNAL);
    CHECK(strstr(ziggy_errmsg(), "ziggy_test_panic was called") != NULL);
}

static void test_keys_and_values(ziggy_db *db) {
    /* Binary key and value with NUL bytes inside. */
    const char key[] = {'k', '\0', 'e', 'y'};
    const char val[] = {'v', '\0', '\0', 'a', 'l', '\xff'};
    void *got = NULL;
    size_t glen = 99;
    CHECK_RC(ziggy_get(db, key, sizeof key, &got, &glen), ZIGGY_NOTFOUND);
    CHECK(got == NULL && glen == 0);
    CHECK_RC(ziggy_set(db, key, sizeof key, val, sizeof val), ZIGGY_OK);
    CHECK_RC(ziggy_get(db, key, sizeof key, &got, &glen), ZIGGY_OK);
    CHECK(glen == sizeof val && memcmp(got, val, sizeof val) == 0);
    CHECK(((char *)got)[glen] == '\0');
    ziggy_free(got);
    /* A prefix of the key is another key. */
    CHECK_RC(ziggy_get(db, key, 1, NULL, NULL), ZIGGY_NOTFOUND);
    /* Existence without a copy. */
    CHECK_RC(ziggy_get(db, key, sizeof key, NULL, &glen), ZIGGY_OK);
    CHECK(glen == sizeof val);
    /* Empty key and empty value: NULL with length 0 is allowed. */
    CHECK_RC(ziggy_set(db, NULL, 0, NULL, 0), ZIGGY_OK);
    CHECK_RC(ziggy_get(db, NULL, 0, &got, &glen), ZIGGY_OK);
    CHECK(glen == 0 && got != NULL && ((char *)got)[0] == '\0');
    ziggy_free(got);
    CHECK_RC(ziggy_del(db, key, sizeof key), ZIGGY_OK);
    CHECK_RC(ziggy_del(db, key, sizeof key), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_del(db, NULL, 0), ZIGGY_OK);

    int64_t n = 0;
    CHECK_RC(ziggy_incrby(db, "n", 1, 5, &n), ZIGGY_OK);
    CHECK(n == 5);
    CHECK_RC(ziggy_incrby(db, "n", 1, -7, &n), ZIGGY_OK);
    CHECK(n == -2);
    CHECK_RC(ziggy_incrby(db, "n", 1, 1, NULL), ZIGGY_OK);
    CHECK_RC(ziggy_get(db, "n", 1, &got, &glen), ZIGGY_OK); /* as GET shows it */
    CHECK(glen == 2 && memcmp(got, "-1", 2) == 0);
    ziggy_free(got);
    CHECK_RC(ziggy_incrby(db, "n", 1, INT64_MAX, &n), ZIGGY_OK);
    CHECK_RC(ziggy_incrby(db, "n", 1, 2, &n), ZIGGY_OVERFLOW);
    CHECK(strlen(ziggy_errmsg()) > 0);
    CHECK_RC(ziggy_set(db, "s", 1, "abc", 3), ZIGGY_OK);
    CHECK_RC(ziggy_incrby(db, "s", 1, 1, &n), ZIGGY_NOT_AN_INTEGER);
    ziggy_free(NULL);
}

static void test_typed_values(ziggy_db *db) {
    int type = -1;
    ziggy_value v;
    CHECK_RC(ziggy_type(db, "missing", 7, &type), ZIGGY_NOTFOUND);
    CHECK(type == ZIGGY_TYPE_NONE);

    ziggy_value i = {.vtype = ZIGGY_TYPE_INT, .integer = -42};
    CHECK_RC(ziggy_set_value(db, "i", 1, &i), ZIGGY_OK);
    CHECK_RC(ziggy_type(db, "i", 1, &type), ZIGGY_OK);
    CHECK(type == ZIGGY_TYPE_INT);
    CHECK_RC(ziggy_get_value(db, "i", 1, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_INT && v.integer == -42 && v.data == NULL);
    int64_t n = 0;
    CHECK_RC(ziggy_get_int(db, "i", 1, &n), ZIGGY_OK);
    CHECK(n == -42);
    double d = 0;
    CHECK_RC(ziggy_get_float(db, "i", 1, &d), ZIGGY_OK);
    CHECK(d == -42.0);

    ziggy_value f = {.vtype = ZIGGY_TYPE_FLOAT, .real = 2.5};
    CHECK_RC(ziggy_set_value(db, "f", 1, &f), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "f", 1, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_FLOAT && v.real == 2.5);
    CHECK_RC(ziggy_get_float(db, "f", 1, &d), ZIGGY_OK);
    CHECK(d == 2.5);
    CHECK_RC(ziggy_get_int(db, "f", 1, &n), ZIGGY_NOT_AN_INTEGER);

    ziggy_value b = {.vtype = ZIGGY_TYPE_BOOL, .integer = 7};
    CHECK_RC(ziggy_set_value(db, "b", 1, &b), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "b", 1, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_BOOL && v.integer == 1);

    ziggy_value t = {.vtype = ZIGGY_TYPE_TIMESTAMP, .integer = 1700000000123};
    CHECK_RC(ziggy_set_value(db, "t", 1, &t), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "t", 1, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_TIMESTAMP && v.integer == 1700000000123);

    const char *json = "{\"a\": [1, 2]}";
    ziggy_value j = {.vtype = ZIGGY_TYPE_JSON, .data = json, .len = strlen(json)};
    CHECK_RC(ziggy_set_value(db, "j", 1, &j), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "j", 1, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_JSON && v.len == strlen(json) && strcmp(v.data, json) == 0);
    ziggy_value_free(&v);
    CHECK(v.data == NULL && v.len == 0);
    ziggy_value bad_json = {.vtype = ZIGGY_TYPE_JSON, .data = "{oops", .len = 5};
    CHECK_RC(ziggy_set_value(db, "j", 1, &bad_json), ZIGGY_INVALID_JSON);

    ziggy_value s = {.vtype = ZIGGY_TYPE_STRING, .data = "h\xc3\xa9", .len = 3};
    CHECK_RC(ziggy_set_value(db, "str", 3, &s), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "str", 3, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_STRING && v.len == 3 && memcmp(v.data, "h\xc3\xa9", 3) == 0);
    ziggy_value_free(&v);
    ziggy_value bad_utf8 = {.vtype = ZIGGY_TYPE_STRING, .data = "\xff", .len = 1};
    CHECK_RC(ziggy_set_value(db, "str", 3, &bad_utf8), ZIGGY_INVALID_ARGUMENT);

    const char bin[] = {0, 1, 0, 2};
    ziggy_value by = {.vtype = ZIGGY_TYPE_BYTES, .data = bin, .len = sizeof bin};
    CHECK_RC(ziggy_set_value(db, "by", 2, &by), ZIGGY_OK);
    CHECK_RC(ziggy_get_value(db, "by", 2, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_BYTES && v.len == 4 && memcmp(v.data, bin, 4) == 0);
    ziggy_value_free(&v);
    ziggy_value_free(NULL);
    /* Out-pointer NULL: the value is read and dropped. */
    CHECK_RC(ziggy_get_value(db, "by", 2, NULL), ZIGGY_OK);

    ziggy_value unknown = {.vtype = ZIGGY_TYPE_LIST};
    CHECK_RC(ziggy_set_value(db, "x", 1, &unknown), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_set_value(db, "x", 1, NULL), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_get_int(db, "missing", 7, &n), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_get_float(db, "missing", 7, &d), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_get_value(db, "missing", 7, &v), ZIGGY_NOTFOUND);
}

static void test_exec(ziggy_db *db) {
    ziggy_reply *r;
    const char *set[] = {"SET", "greeting", "hello"};
    r = run(db, 3, set);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);

    const char *get[] = {"GET", "greeting"};
    r = run(db, 2, get);
    CHECK(reply_is(r, ZIGGY_REPLY_BULK, "hello"));
    ziggy_reply_free(r);

    const char *get_missing[] = {"GET", "nope"};
    r = run(db, 2, get_missing);
    CHECK(reply_is(r, ZIGGY_REPLY_NIL, NULL));
    CHECK(ziggy_reply_str(r, NULL) == NULL);
    ziggy_reply_free(r);

    const char *incr[] = {"INCRBY", "hits", "5"};
    r = run(db, 3, incr);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_INTEGER && ziggy_reply_integer(r) == 5);
    CHECK(ziggy_reply_double(r) == 0.0 && ziggy_reply_len(r) == 0);
    CHECK(ziggy_reply_element(r, 0) == NULL);
    ziggy_reply_free(r);

    const char *push[] = {"RPUSH", "list", "a", "b", "c"};
    r = run(db, 5, push);
    CHECK(ziggy_reply_integer(r) == 3);
    ziggy_reply_free(r);
    const char *range[] = {"LRANGE", "list", "0", "-1"};
    r = run(db, 4, range);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(r) == 3);
    CHECK(reply_is(ziggy_reply_element(r, 0), ZIGGY_REPLY_BULK, "a"));
    CHECK(reply_is(ziggy_reply_element(r, 2), ZIGGY_REPLY_BULK, "c"));
    CHECK(ziggy_reply_element(r, 3) == NULL);
    ziggy_reply_free(r);

    /* Nested arrays: ZRANGE WITHSCORES flat, SCAN nested. */
    const char *zadd[] = {"ZADD", "board", "10", "ada", "20", "bob"};
    r = run(db, 6, zadd);
    CHECK(ziggy_reply_integer(r) == 2);
    ziggy_reply_free(r);
    const char *scan[] = {"SCAN", "0", "MATCH", "boar*", "COUNT", "1000"};
    r = run(db, 6, scan);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(r) == 2);
    CHECK(reply_is(ziggy_reply_element(r, 0), ZIGGY_REPLY_BULK, "0"));
    const ziggy_reply *keys = ziggy_reply_element(r, 1);
    CHECK(ziggy_reply_type(keys) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(keys) == 1);
    CHECK(reply_is(ziggy_reply_element(keys, 0), ZIGGY_REPLY_BULK, "board"));
    ziggy_reply_free(r);

    /* An error reply is a reply, not a failed call. */
    const char *wrong[] = {"LPUSH", "greeting", "x"};
    r = run(db, 3, wrong);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    size_t len = 0;
    const char *text = ziggy_reply_str(r, &len);
    CHECK(text != NULL && strncmp(text, "WRONGTYPE", 9) == 0 && strlen(text) == len);
    ziggy_reply_free(r);
    const char *syntax[] = {"SET", "k", "v", "XX", "NX"};
    r = run(db, 5, syntax);
    CHECK(reply_is(r, ZIGGY_REPLY_ERROR, "ERR syntax error"));
    ziggy_reply_free(r);
    const char *unknown[] = {"FROB"};
    r = run(db, 1, unknown);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    ziggy_reply_free(r);
    r = run(db, 0, NULL); /* an empty argv is an unknown command */
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    ziggy_reply_free(r);
    const char *arity[] = {"GET"};
    r = run(db, 1, arity);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    ziggy_reply_free(r);
    /* State across calls needs a session. */
    const char *multi[] = {"MULTI"};
    r = run(db, 1, multi);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    CHECK(strstr(ziggy_reply_str(r, NULL), "session") != NULL);
    ziggy_reply_free(r);

    /* Binary-safe arguments with argvlen. */
    const char bkey[] = {'b', 0, 'k'};
    const char bval[] = {0, 'v', 0};
    const char *bset[] = {"SET", bkey, bval};
    size_t bset_len[] = {3, sizeof bkey, sizeof bval};
    r = NULL;
    CHECK_RC(ziggy_exec(db, 3, bset, bset_len, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);
    const char *bget[] = {"GET", bkey};
    size_t bget_len[] = {3, sizeof bkey};
    CHECK_RC(ziggy_exec(db, 2, bget, bget_len, &r), ZIGGY_OK);
    text = ziggy_reply_str(r, &len);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_BULK && len == 3 && memcmp(text, bval, 3) == 0);
    ziggy_reply_free(r);
    void *got = NULL;
    size_t glen = 0;
    CHECK_RC(ziggy_get(db, bkey, sizeof bkey, &got, &glen), ZIGGY_OK);
    CHECK(glen == 3 && memcmp(got, bval, 3) == 0);
    ziggy_free(got);

    /* Bad calls fail, with *out NULL. */
    r = (ziggy_reply *)1;
    CHECK_RC(ziggy_exec(db, -1, get, NULL, &r), ZIGGY_INVALID_ARGUMENT);
    CHECK(r == NULL);
    CHECK_RC(ziggy_exec(db, 2, NULL, NULL, &r), ZIGGY_INVALID_ARGUMENT);
    const char *with_null[] = {"GET", NULL};
    CHECK_RC(ziggy_exec(db, 2, with_null, NULL, &r), ZIGGY_INVALID_ARGUMENT);
    CHECK(strstr(ziggy_errmsg(), "argv[1]") != NULL);
    CHECK_RC(ziggy_exec(db, 2, get, NULL, NULL), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_exec(NULL, 2, get, NULL, &r), ZIGGY_INVALID_ARGUMENT);

    /* Accessors take NULL. */
    CHECK(ziggy_reply_type(NULL) == 0 && ziggy_reply_integer(NULL) == 0);
    CHECK(ziggy_reply_double(NULL) == 0.0 && ziggy_reply_len(NULL) == 0);
    CHECK(ziggy_reply_str(NULL, &len) == NULL && len == 0);
    CHECK(ziggy_reply_element(NULL, 0) == NULL);
    ziggy_reply_free(NULL);
}

static void test_session(ziggy_db *db) {
    ziggy_session *s = NULL;
    ziggy_reply *r = NULL;
    CHECK_RC(ziggy_session_open(db, &s), ZIGGY_OK);
    const char *multi[] = {"MULTI"};
    const char *incr[] = {"INCR", "sess"};
    const char *exec[] = {"EXEC"};
    CHECK_RC(ziggy_session_exec(s, 1, multi, NULL, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, incr, NULL, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "QUEUED"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, incr, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 1, exec, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(r) == 2);
    CHECK(ziggy_reply_integer(ziggy_reply_element(r, 1)) == 2);
    ziggy_reply_free(r);

    /* WATCH, a change from outside, EXEC aborts: the null array. */
    const char *watch[] = {"WATCH", "sess"};
    CHECK_RC(ziggy_session_exec(s, 2, watch, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_incrby(db, "sess", 4, 10, NULL), ZIGGY_OK);
    CHECK_RC(ziggy_session_exec(s, 1, multi, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, incr, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 1, exec, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_NIL);
    ziggy_reply_free(r);

    /* BEGIN ... ROLLBACK shows real replies and undoes them. */
    const char *begin[] = {"BEGIN"};
    const char *rollback[] = {"ROLLBACK"};
    CHECK_RC(ziggy_session_exec(s, 1, begin, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, incr, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_integer(r) == 13);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 1, rollback, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    int64_t n = 0;
    CHECK_RC(ziggy_get_int(db, "sess", 4, &n), ZIGGY_OK);
    CHECK(n == 12);
    /* Closing with a BEGIN open rolls it back. */
    CHECK_RC(ziggy_session_exec(s, 1, begin, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, incr, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    ziggy_session_close(s);
    CHECK_RC(ziggy_get_int(db, "sess", 4, &n), ZIGGY_OK);
    CHECK(n == 12);
    ziggy_session_close(NULL);
    CHECK_RC(ziggy_session_exec(NULL, 1, begin, NULL, &r), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_session_open(NULL, &s), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_session_open(db, NULL), ZIGGY_INVALID_ARGUMENT);

    /* SELECT n: a session's state; ziggy_exec refuses it (it would be forgotten). */
    const char *select3[] = {"SELECT", "3"};
    const char *set3[] = {"SET", "in3", "three"};
    const char *get3[] = {"GET", "in3"};
    CHECK_RC(ziggy_exec(db, 2, select3, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    CHECK(strstr(ziggy_reply_str(r, NULL), "session") != NULL);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_open(db, &s), ZIGGY_OK);
    CHECK_RC(ziggy_session_exec(s, 2, select3, NULL, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 3, set3, NULL, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_exec(s, 2, get3, NULL, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_BULK, "three"));
    ziggy_reply_free(r);
    ziggy_session_close(s);
    CHECK_RC(ziggy_exec(db, 2, get3, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_NIL);
    ziggy_reply_free(r);
}

static void test_txn(ziggy_db *db) {
    ziggy_txn *t = NULL;
    void *got = NULL;
    size_t glen = 0;
    int64_t n = 0;
    ziggy_value v;
    CHECK_RC(ziggy_txn_begin(db, &t), ZIGGY_OK);
    CHECK_RC(ziggy_txn_set(t, "a", 1, "1", 1), ZIGGY_OK);
    CHECK_RC(ziggy_txn_incrby(t, "a", 1, 41, &n), ZIGGY_OK);
    CHECK(n == 42);
    CHECK_RC(ziggy_txn_get(t, "a", 1, &got, &glen), ZIGGY_OK); /* its own write */
    CHECK(glen == 2 && memcmp(got, "42", 2) == 0);
    ziggy_free(got);
    ziggy_value pi = {.vtype = ZIGGY_TYPE_FLOAT, .real = 3.25};
    CHECK_RC(ziggy_txn_set_value(t, "pi", 2, &pi), ZIGGY_OK);
    CHECK_RC(ziggy_txn_get_value(t, "pi", 2, &v), ZIGGY_OK);
    CHECK(v.vtype == ZIGGY_TYPE_FLOAT && v.real == 3.25);
    CHECK_RC(ziggy_get(db, "a", 1, NULL, NULL), ZIGGY_NOTFOUND); /* not visible before commit */
    CHECK_RC(ziggy_txn_del(t, "greeting", 8), ZIGGY_OK);
    CHECK_RC(ziggy_txn_del(t, "greeting", 8), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_txn_get(t, "greeting", 8, &got, &glen), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_txn_get_value(t, "greeting", 8, &v), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_txn_incrby(t, "list", 4, 1, &n), ZIGGY_WRONG_TYPE);
    CHECK_RC(ziggy_txn_commit(t), ZIGGY_OK);
    CHECK_RC(ziggy_get_int(db, "a", 1, &n), ZIGGY_OK);
    CHECK(n == 42);
    CHECK_RC(ziggy_get(db, "greeting", 8, NULL, NULL), ZIGGY_NOTFOUND);

    CHECK_RC(ziggy_txn_begin(db, &t), ZIGGY_OK);
    CHECK_RC(ziggy_txn_set(t, "a", 1, "gone", 4), ZIGGY_OK);
    ziggy_txn_rollback(t);
    CHECK_RC(ziggy_get_int(db, "a", 1, &n), ZIGGY_OK);
    CHECK(n == 42);

    /* Any command inside a transaction: its writes commit or roll back with it, a failed
       command leaves the transaction as it was, and transaction control is refused. */
    ziggy_reply *r = NULL;
    const char *push[] = {"RPUSH", "jobs", "a", "b"};
    const char *len[] = {"LLEN", "jobs"};
    const char *wrong[] = {"LPUSH", "a", "x"};
    const char *multi[] = {"MULTI"};
    const char *bin[] = {"SET", "bin\0key", "v\0w"};
    size_t binlen[] = {3, 7, 3};
    CHECK_RC(ziggy_txn_begin(db, &t), ZIGGY_OK);
    CHECK_RC(ziggy_txn_exec(t, 4, push, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_INTEGER && ziggy_reply_integer(r) == 2);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(t, 2, len, NULL, &r), ZIGGY_OK); /* sees its own write */
    CHECK(ziggy_reply_integer(r) == 2);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(t, 3, wrong, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(t, 1, multi, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ERROR);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(t, 3, bin, binlen, &r), ZIGGY_OK);
    CHECK(reply_is(r, ZIGGY_REPLY_STATUS, "OK"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(t, 2, len, NULL, NULL), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_exec(db, 2, len, NULL, &r), ZIGGY_OK); /* not visible before commit */
    CHECK(ziggy_reply_integer(r) == 0);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_commit(t), ZIGGY_OK);
    CHECK_RC(ziggy_exec(db, 2, len, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_integer(r) == 2);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_get_int(db, "a", 1, &n), ZIGGY_OK); /* the failed LPUSH changed nothing */
    CHECK(n == 42);
    CHECK_RC(ziggy_get(db, "bin\0key", 7, &got, &glen), ZIGGY_OK);
    CHECK(glen == 3 && memcmp(got, "v\0w", 3) == 0);
    ziggy_free(got);
    CHECK_RC(ziggy_txn_begin(db, &t), ZIGGY_OK);
    CHECK_RC(ziggy_txn_exec(t, 4, push, NULL, &r), ZIGGY_OK);
    ziggy_reply_free(r);
    ziggy_txn_rollback(t);
    CHECK_RC(ziggy_exec(db, 2, len, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_integer(r) == 2);
    ziggy_reply_free(r);
    CHECK_RC(ziggy_txn_exec(NULL, 2, len, NULL, &r), ZIGGY_INVALID_ARGUMENT);

    ziggy_txn_rollback(NULL);
    CHECK_RC(ziggy_txn_commit(NULL), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_txn_set(NULL, "a", 1, "x", 1), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_txn_begin(db, NULL), ZIGGY_INVALID_ARGUMENT);
}

static void test_errors(ziggy_db *db) {
    void *got = NULL;
    size_t glen = 0;
    /* A collection read as a value. */
    CHECK_RC(ziggy_get(db, "list", 4, &got, &glen), ZIGGY_WRONG_TYPE);
    CHECK(strlen(ziggy_errmsg()) > 0);
    CHECK_RC(ziggy_incrby(db, "list", 4, 1, NULL), ZIGGY_WRONG_TYPE);
    int type = 0;
    CHECK_RC(ziggy_type(db, "list", 4, &type), ZIGGY_OK);
    CHECK(type == ZIGGY_TYPE_LIST);
    ziggy_value v;
    CHECK_RC(ziggy_get_value(db, "list", 4, &v), ZIGGY_WRONG_TYPE);
    /* NULL where a length says there are bytes. */
    CHECK_RC(ziggy_get(db, NULL, 3, &got, &glen), ZIGGY_INVALID_ARGUMENT);
    CHECK(strstr(ziggy_errmsg(), "key is NULL") != NULL);
    CHECK_RC(ziggy_set(db, "k", 1, NULL, 3), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_set(NULL, "k", 1, "v", 1), ZIGGY_INVALID_ARGUMENT);
    CHECK(strcmp(ziggy_errmsg(), "db is NULL") == 0);
    CHECK_RC(ziggy_get(NULL, "k", 1, &got, &glen), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_del(NULL, "k", 1), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_incrby(NULL, "k", 1, 1, NULL), ZIGGY_INVALID_ARGUMENT);
    /* A key longer than the format allows. */
    size_t big = 70000;
    char *long_key = calloc(big, 1);
    CHECK_RC(ziggy_set(db, long_key, big, "v", 1), ZIGGY_KEY_TOO_LARGE);
    free(long_key);
    /* A success leaves the message of the last failure. */
    CHECK_RC(ziggy_set(db, "k", 1, "v", 1), ZIGGY_OK);
    CHECK(strstr(ziggy_errmsg(), "key") != NULL);
}

static void test_maintenance(ziggy_db *db) {
    ziggy_metrics m;
    memset(&m, 0xff, sizeof m);
    m.size = sizeof m;
    CHECK_RC(ziggy_db_metrics(db, &m), ZIGGY_OK);
    CHECK(m.size == sizeof m);
    CHECK(m.keys > 5 && m.keys < 1000 && m.commits > 10 && m.processes >= 1);
    CHECK(m.commands >= 10 && m.reads > 0);
    CHECK_RC(ziggy_db_metrics(db, NULL), ZIGGY_INVALID_ARGUMENT);
    /* A caller built when the struct ended after `keys` gets only what fits in its size. */
    memset(&m, 0xff, sizeof m);
    m.size = offsetof(ziggy_metrics, live_bytes);
    CHECK_RC(ziggy_db_metrics(db, &m), ZIGGY_OK);
    CHECK(m.size == offsetof(ziggy_metrics, live_bytes) && m.keys > 5 && m.keys < 1000);
    CHECK(m.live_bytes == UINT64_MAX && m.commands == UINT64_MAX);
    m.size = 0;
    CHECK_RC(ziggy_db_metrics(db, &m), ZIGGY_INVALID_ARGUMENT);
    CHECK(strstr(ziggy_errmsg(), "size") != NULL);
    CHECK_RC(ziggy_db_metrics(NULL, &m), ZIGGY_INVALID_ARGUMENT);

    for (int i = 0; i < 200; i++) CHECK_RC(ziggy_set(db, "churn", 5, "xxxxxxxxxxxxxxxx", 16), ZIGGY_OK);
    ziggy_compact_stats cs;
    memset(&cs, 0, sizeof cs);
    CHECK_RC(ziggy_compact(db, &cs), ZIGGY_OK);
    CHECK(cs.bytes_after <= cs.bytes_before);
    CHECK_RC(ziggy_compact(db, NULL), ZIGGY_OK);

    char dest[4096];
    path_of(dest, "backup");
    ziggy_backup_stats bs;
    memset(&bs, 0, sizeof bs);
    CHECK_RC(ziggy_backup(db, dest, &bs), ZIGGY_OK);
    CHECK(bs.keys == m.keys + 1 || bs.keys > 5); /* churn was added after the metrics */
    CHECK(bs.segments >= 1 && bs.bytes > 0);
    CHECK_RC(ziggy_backup(db, dest, NULL), ZIGGY_INVALID_ARGUMENT); /* not empty now */
    CHECK_RC(ziggy_backup(db, NULL, NULL), ZIGGY_INVALID_ARGUMENT);
    ziggy_db *copy = NULL;
    CHECK_RC(ziggy_open(dest, NULL, &copy), ZIGGY_OK);
    int64_t n = 0;
    CHECK_RC(ziggy_get_int(copy, "a", 1, &n), ZIGGY_OK);
    CHECK(n == 42);
    ziggy_close(copy);

    ziggy_check_report rep;
    char *problems = (char *)1;
    CHECK_RC(ziggy_check(db, &rep, &problems), ZIGGY_OK);
    CHECK(rep.problems == 0 && problems == NULL && rep.keys > 5 && rep.records >= rep.keys);
    CHECK_RC(ziggy_check(db, NULL, NULL), ZIGGY_OK);
    CHECK_RC(ziggy_sync(db), ZIGGY_OK);
    CHECK_RC(ziggy_sync(NULL), ZIGGY_INVALID_ARGUMENT);
}

/* A handle used in a child made by fork() fails with ZIGGY_FORKED instead of touching the
 * parent's locks; the parent's handle goes on working. */
static void test_fork(ziggy_db *db) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int64_t n = 0;
        int rc = ziggy_incrby(db, "forked", 6, 1, &n);
        /* The outcome as the exit status of true or false: an exec, so that a leak checker
         * does not count the parent's threads, which fork() left behind, as the child's. */
        const char *outcome = rc == ZIGGY_FORKED && strlen(ziggy_errmsg()) > 0 ? "true" : "false";
        execlp(outcome, outcome, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_RC(ziggy_get(db, "forked", 6, NULL, NULL), ZIGGY_NOTFOUND);
    CHECK_RC(ziggy_incrby(db, "forked", 6, 1, NULL), ZIGGY_OK);
}

/* Threads sharing one ziggy_db: increments are exact, reads see whole values. */
#define THREADS 4
#define PER_THREAD 300
static void *worker(void *arg) {
    ziggy_db *db = arg;
    long bad = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        if (ziggy_incrby(db, "threads", 7, 1, NULL) != ZIGGY_OK) bad++;
        void *got = NULL;
        size_t glen = 0;
        int rc = ziggy_get(db, "threads", 7, &got, &glen);
        if (rc != ZIGGY_OK || glen == 0) bad++;
        ziggy_free(got);
        const char *argv[] = {"RPUSH", "tlist", "x"};
        ziggy_reply *r = NULL;
        if (ziggy_exec(db, 3, argv, NULL, &r) != ZIGGY_OK || ziggy_reply_type(r) != ZIGGY_REPLY_INTEGER) bad++;
        ziggy_reply_free(r);
    }
    return (void *)bad;
}

static void test_threads(ziggy_db *db) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, db) == 0);
    long bad_total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;
        pthread_join(t[i], &bad);
        bad_total += (long)bad;
    }
    CHECK(bad_total == 0);
    int64_t n = 0;
    CHECK_RC(ziggy_get_int(db, "threads", 7, &n), ZIGGY_OK);
    CHECK(n == THREADS * PER_THREAD);
    const char *llen[] = {"LLEN", "tlist"};
    ziggy_reply *r = run(db, 2, llen);
    CHECK(ziggy_reply_integer(r) == THREADS * PER_THREAD);
    ziggy_reply_free(r);
}

/* A session blocked in BLPOP on another thread: woken by a push, ended by an interrupt. */
struct pop_arg {
    ziggy_session *s;
    ziggy_reply *r;
    int rc;
};
static void *blocking_pop(void *p) {
    struct pop_arg *a = p;
    const char *blpop[] = {"BLPOP", "cq", "0"};
    a->rc = ziggy_session_exec(a->s, 3, blpop, NULL, &a->r);
    return NULL;
}

static void test_blocking_and_pubsub(ziggy_db *db) {
    ziggy_session *s = NULL;
    ziggy_interrupter *in = NULL;
    ziggy_reply *r = NULL;
    CHECK_RC(ziggy_session_open(db, &s), ZIGGY_OK);
    CHECK_RC(ziggy_session_interrupter(s, &in), ZIGGY_OK);

    /* Woken by a push from this thread (any process would do). */
    struct pop_arg a = {s, NULL, -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocking_pop, &a) == 0);
    usleep(50 * 1000);
    const char *push[] = {"RPUSH", "cq", "job"};
    ziggy_reply_free(run(db, 3, push));
    pthread_join(t, NULL);
    CHECK_RC(a.rc, ZIGGY_OK);
    CHECK(ziggy_reply_type(a.r) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(a.r) == 2);
    CHECK(reply_is(ziggy_reply_element(a.r, 1), ZIGGY_REPLY_BULK, "job"));
    ziggy_reply_free(a.r);

    /* Ended by an interrupt: a nil reply, as at a timeout; the next wait waits again. */
    a.r = NULL;
    CHECK(pthread_create(&t, NULL, blocking_pop, &a) == 0);
    usleep(50 * 1000);
    ziggy_interrupt(in);
    pthread_join(t, NULL);
    CHECK_RC(a.rc, ZIGGY_OK);
    CHECK(ziggy_reply_type(a.r) == ZIGGY_REPLY_NIL);
    ziggy_reply_free(a.r);
    const char *timed[] = {"BLPOP", "cq", "0.2"};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RC(ziggy_session_exec(s, 3, timed, NULL, &r), ZIGGY_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_NIL);
    /* It waited its whole timeout: the interrupt was used up by the wait it ended. */
    CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 150);
    ziggy_reply_free(r);
    ziggy_interrupt(NULL);

    /* Pub/Sub: the subscription's replies, then a message published by another handle. */
    const char *sub[] = {"SUBSCRIBE", "news", "misc"};
    CHECK_RC(ziggy_session_exec(s, 3, sub, NULL, &r), ZIGGY_OK);
    CHECK(ziggy_reply_type(r) == ZIGGY_REPLY_ARRAY && ziggy_reply_len(r) == 3);
    CHECK(reply_is(ziggy_reply_element(r, 1), ZIGGY_REPLY_BULK, "news"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_next_message(s, 0, &r), ZIGGY_OK); /* the second channel's */
    CHECK(r != NULL && reply_is(ziggy_reply_element(r, 1), ZIGGY_REPLY_BULK, "misc"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_next_message(s, 0, &r), ZIGGY_OK); /* nothing yet */
    CHECK(r == NULL);
    const char *pub[] = {"PUBLISH", "news", "hello"};
    ziggy_reply *n = run(db, 3, pub);
    CHECK(ziggy_reply_integer(n) == 1);
    ziggy_reply_free(n);
    CHECK_RC(ziggy_session_next_message(s, 10000, &r), ZIGGY_OK);
    CHECK(r != NULL && ziggy_reply_len(r) == 3);
    CHECK(reply_is(ziggy_reply_element(r, 0), ZIGGY_REPLY_BULK, "message"));
    CHECK(reply_is(ziggy_reply_element(r, 2), ZIGGY_REPLY_BULK, "hello"));
    ziggy_reply_free(r);
    CHECK_RC(ziggy_session_next_message(NULL, 0, &r), ZIGGY_INVALID_ARGUMENT);
    CHECK_RC(ziggy_session_next_message(s, 0, NULL), ZIGGY_INVALID_ARGUMENT);
    ziggy_interrupter *none = (ziggy_interrupter *)1;
    CHECK_RC(ziggy_session_interrupter(NULL, &none), ZIGGY_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_RC(ziggy_session_interrupter(s, NULL), ZIGGY_INVALID_ARGUMENT);
    ziggy_session_close(s);
    /* An interrupter outlives its session harmlessly. */
    ziggy_interrupt(in);
    ziggy_interrupter_free(in);
    ziggy_interrupter_free(NULL);
}

/* Another thread waits for the writer lock a transaction holds, until its lock timeout. */
struct busy_arg {
    ziggy_db *db;
    int rc;
    char msg[256];
};
static void *busy_writer(void *p) {
    struct busy_arg *a = p;
    a->rc = ziggy_set(a->db, "held", 4, "x", 1);
    snprintf(a->msg, sizeof a->msg, "%s", ziggy_errmsg()); /* this thread's own message */
    return NULL;
}

static void test_open_errors(void) {
    char dir[4096];
    ziggy_db *db = (ziggy_db *)1;
    CHECK_RC(ziggy_open(NULL, NULL, &db), ZIGGY_INVALID_ARGUMENT);
    CHECK(db == NULL);
    path_of(dir, "opt");
    CHECK_RC(ziggy_open(dir, NULL, NULL), ZIGGY_INVALID_ARGUMENT);

    /* A regular file is not a directory. */
    path_of(dir, "plain-file");
    FILE *f = fopen(dir, "w");
    fputs("hello", f);
    fclose(f);
    CHECK_RC(ziggy_open(dir, NULL, &db), ZIGGY_NOT_A_DIRECTORY);
    /* A directory of other files is not a database. */
    path_of(dir, "other");
    mkdir(dir, 0700);
    char file[4096 + 16];
    snprintf(file, sizeof file, "%s/notes.txt", dir);
    f = fopen(file, "w");
    fputs("mine", f);
    fclose(f);
    CHECK_RC(ziggy_open(dir, NULL, &db), ZIGGY_NOT_A_DATABASE);
    /* A database whose MANIFEST is garbage. */
    path_of(dir, "corrupt");
    ziggy_db *c = NULL;
    CHECK_RC(ziggy_open(dir, NULL, &c), ZIGGY_OK);
    CHECK_RC(ziggy_set(c, "k", 1, "v", 1), ZIGGY_OK);
    ziggy_close(c);
    snprintf(file, sizeof file, "%s/MANIFEST", dir);
    f = fopen(file, "w");
    fputs("this is not a manifest\n", f);
    fclose(f);
    int rc = ziggy_open(dir, NULL, &db);
    CHECK(rc == ZIGGY_CORRUPT_MANIFEST);
    CHECK(db == NULL && strlen(ziggy_errmsg()) > 0);

    /* Options: bad durability, a bad mode, a read-only open, a lock timeout. */
    ziggy_options o;
    ziggy_options_init(&o);
    ziggy_options_init(NULL);
    CHECK(o.durability == ZIGGY_DURABILITY_IMMEDIATE && o.lock_timeout_ms == 10000);
    CHECK(o.auto_compact && !o.read_only && o.segment_size == 64u << 20);
    CHECK(o.size == sizeof o);
    /* A struct not filled by ziggy_options_init is refused. */
    ziggy_options zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    path_of(dir, "zeroed-opts");
    CHECK_RC(ziggy_open(dir, &zeroed, &db), ZIGGY_INVALID_ARGUMENT);
    CHECK(db == NULL && strstr(ziggy_errmsg(), "ziggy_options_init") != NULL);
    /* A caller built when the struct ended after `durability`: the rest are the defaults,
       whatever its memory holds beyond. */
    ziggy_options older;
    memset(&older, 0xff, sizeof older);
    older.size = offsetof(ziggy_options, batch_delay_ms);
    older.durability = ZIGGY_DURABILITY_IMMEDIATE;
    path_of(dir, "older-opts");
    CHECK_RC(ziggy_open(dir, &older, &db), ZIGGY_OK);
    ziggy_close(db);
    db = NULL;
    o.durability = 9;
    path_of(dir, "opts");
    CHECK_RC(ziggy_open(dir, &o, &db), ZIGGY_INVALID_ARGUMENT);
    ziggy_options_init(&o);
    o.mode = 0777;
    CHECK_RC(ziggy_open(dir, &o, &db), ZIGGY_INVALID_ARGUMENT);
    ziggy_options_init(&o);
    o.segment_size = 1 << 20;
    o.durability = ZIGGY_DURABILITY_BATCHED;
    o.batch_delay_ms = 20;
    o.lock_timeout_ms = 300;
    o.active_expiry_ms = -1;
    o.mode = 0660;
    CHECK_RC(ziggy_open(dir, &o, &db), ZIGGY_OK);
    size_t big_len = 2 << 20;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    /* Larger than a segment: it goes to a large segment of its own (format-spec.md 3.3). */
    CHECK_RC(ziggy_set(db, "big", 3, big, big_len), ZIGGY_OK);
    void *big_got = NULL;
    size_t big_got_len = 0;
    CHECK_RC(ziggy_get(db, "big", 3, &big_got, &big_got_len), ZIGGY_OK);
    CHECK(big_got_len == big_len && memcmp(big_got, big, big_len) == 0);
    ziggy_free(big_got);
    free(big);
    CHECK_RC(ziggy_set(db, "small", 5, "v", 1), ZIGGY_OK);
    CHECK_RC(ziggy_sync(db), ZIGGY_OK);
    struct stat st;
    snprintf(file, sizeof file, "%s/MANIFEST", dir);
    CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0660);
    /* The same directory with other options in one process. */
    ziggy_db *other = NULL;
    CHECK_RC(ziggy_open(dir, NULL, &other), ZIGGY_OPTIONS_MISMATCH);
    /* A writer in another thread waits for the lock a transaction holds: BUSY after 300 ms. */
    ziggy_txn *t = NULL;
    CHECK_RC(ziggy_txn_begin(db, &t), ZIGGY_OK);
    struct busy_arg a = {.db = db, .rc = -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, busy_writer, &a) == 0);
    pthread_join(th, NULL);
    CHECK(a.rc == ZIGGY_BUSY);
    CHECK(strlen(a.msg) > 0);
    ziggy_txn_rollback(t);
    CHECK_RC(ziggy_set(db, "held", 4, "x", 1), ZIGGY_OK);
    ziggy_close(db);

    /* Read-only, after a clean close. */
    ziggy_options_init(&o);
    o.read_only = true;
    CHECK_RC(ziggy_open(dir, &o, &db), ZIGGY_OK);
    void *got = NULL;
    size_t glen = 0;
    CHECK_RC(ziggy_get(db, "small", 5, &got, &glen), ZIGGY_OK);
    ziggy_free(got);
    CHECK_RC(ziggy_set(db, "small", 5, "w", 1), ZIGGY_READ_ONLY);
    ziggy_close(db);
    ziggy_close(NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    snprintf(base, sizeof base, "%s", argv[1]);
    char dir[4096];
    path_of(dir, "main");

    test_names();
    test_panic();
    ziggy_db *db = NULL;
    CHECK_RC(ziggy_open(dir, NULL, &db), ZIGGY_OK);
    if (db == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", dir, ziggy_errmsg());
        return 1;
    }
    test_keys_and_values(db);
    test_typed_values(db);
    test_exec(db);
    test_session(db);
    test_txn(db);
    test_errors(db);
    test_maintenance(db);
    test_fork(db);
    test_threads(db);
    test_blocking_and_pubsub(db);
    ziggy_close(db);
    test_open_errors();

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
