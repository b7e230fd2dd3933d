/*
 * The C side of benches/capi.rs: ns per call of ziggy_get and of ziggy_exec of GET, SET,
 * INCR and LPUSH, and of the direct calls, on the database the Rust side filled.
 * Usage: capi_bench DIR KEYS ROUND_MS. Prints "name ns" lines, the best of 15 rounds.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ziggydb.h"

static uint64_t n_keys;
static char (*keys)[32];
static ziggy_db *db;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void must(int rc, const char *what) {
    if (rc != ZIGGY_OK) {
        fprintf(stderr, "capi_bench: %s: %s\n", what, ziggy_errmsg());
        exit(1);
    }
}

typedef void (*op_fn)(uint64_t i);

static void op_get(uint64_t i) {
    void *v = NULL;
    size_t len = 0;
    must(ziggy_get(db, keys[i], 20, &v, &len), "get");
    ziggy_free(v);
}

static void exec3(const char *a, const char *b, const char *c, int argc) {
    const char *argv[3] = {a, b, c};
    ziggy_reply *r = NULL;
    must(ziggy_exec(db, argc, argv, NULL, &r), a);
    if (ziggy_reply_type(r) == ZIGGY_REPLY_ERROR) {
        fprintf(stderr, "capi_bench: %s: %s\n", a, ziggy_reply_str(r, NULL));
        exit(1);
    }
    ziggy_reply_free(r);
}

static void op_get_nocopy(uint64_t i) {
    size_t len = 0;
    must(ziggy_get(db, keys[i], 20, NULL, &len), "get");
}

static char value[101];
static void op_exec_get(uint64_t i) { exec3("GET", keys[i], NULL, 2); }
static void op_exec_set(uint64_t i) { exec3("SET", keys[i], value, 3); }
static void op_set(uint64_t i) { must(ziggy_set(db, keys[i], 20, value, 100), "set"); }
static void op_exec_incr(uint64_t i) { (void)i; exec3("INCR", "counter", NULL, 2); }
static void op_incrby(uint64_t i) { (void)i; must(ziggy_incrby(db, "counter", 7, 1, NULL), "incrby"); }
static void op_exec_lpush(uint64_t i) { (void)i; exec3("LPUSH", "list", "item", 3); }

static double measure(op_fn f, double round_ns, uint64_t modulo) {
    double best = 1e300;
    for (int r = 0; r < 15; r++) { /* as ROUNDS in capi.rs */
        double start = now_ns(), elapsed = 0;
        uint64_t calls = 0;
        while ((elapsed = now_ns() - start) < round_ns) {
            for (int k = 0; k < 100; k++) f(calls++ % modulo);
        }
        double per = elapsed / (double)calls;
        if (per < best) best = per;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR KEYS ROUND_MS\n", argv[0]);
        return 2;
    }
    n_keys = strtoull(argv[2], NULL, 10);
    double round_ns = atof(argv[3]) * 1e6;
    keys = calloc(n_keys, sizeof *keys);
    for (uint64_t i = 0; i < n_keys; i++)
        snprintf(keys[i], sizeof keys[i], "key-%016" PRIx64, i * UINT64_C(0x9e3779b97f4a7c15));
    memset(value, 'v', 100);
    ziggy_options o;
    ziggy_options_init(&o);
    o.durability = ZIGGY_DURABILITY_BATCHED;
    o.batch_delay_ms = 100;
    o.active_expiry_ms = -1;
    o.auto_compact = false;
    must(ziggy_open(argv[1], &o, &db), "open");
    printf("ziggy_get %.0f\n", measure(op_get, round_ns, n_keys));
    printf("ziggy_get-nocopy %.0f\n", measure(op_get_nocopy, round_ns, n_keys));
    printf("ziggy_exec GET %.0f\n", measure(op_exec_get, round_ns, n_keys));
    printf("ziggy_set %.0f\n", measure(op_set, round_ns, n_keys));
    printf("ziggy_exec SET %.0f\n", measure(op_exec_set, round_ns, n_keys));
    printf("ziggy_incrby %.0f\n", measure(op_incrby, round_ns, n_keys));
    printf("ziggy_exec INCR %.0f\n", measure(op_exec_incr, round_ns, n_keys));
    printf("ziggy_exec LPUSH %.0f\n", measure(op_exec_lpush, round_ns, n_keys));
    ziggy_close(db);
    free(keys);
    return 0;
}
