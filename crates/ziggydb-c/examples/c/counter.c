/*
 * Several processes increment one counter through the C API; the total is exact.
 *
 *   counter DIR WORKERS N     starts WORKERS processes (fork + exec of this program), each
 *                             adding 1 to the key "counter" N times, waits for them, and
 *                             checks that the counter grew by exactly WORKERS * N
 *   counter DIR worker N      one worker (what the first form starts)
 *
 * Build: cc counter.c $(pkg-config --cflags --libs ziggydb) -o counter
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ziggydb.h"

static int fail(const char *what, int rc) {
    fprintf(stderr, "counter: %s: %s (%s)\n", what, ziggy_errmsg(), ziggy_errname(rc));
    return 1;
}

static int worker(const char *dir, long n) {
    ziggy_db *db = NULL;
    int rc = ziggy_open(dir, NULL, &db);
    if (rc != ZIGGY_OK) return fail("open", rc);
    for (long i = 0; i < n; i++) {
        rc = ziggy_incrby(db, "counter", 7, 1, NULL);
        if (rc != ZIGGY_OK) {
            ziggy_close(db);
            return fail("incrby", rc);
        }
    }
    ziggy_close(db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR WORKERS N | %s DIR worker N\n", argv[0], argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    long n = atol(argv[3]);
    if (strcmp(argv[2], "worker") == 0) return worker(dir, n);
    long workers = atol(argv[2]);

    ziggy_db *db = NULL;
    int rc = ziggy_open(dir, NULL, &db);
    if (rc != ZIGGY_OK) return fail("open", rc);
    int64_t before = 0;
    rc = ziggy_get_int(db, "counter", 7, &before);
    if (rc != ZIGGY_OK && rc != ZIGGY_NOTFOUND) return fail("read", rc);

    /* Each worker opens the database itself: a handle never crosses fork(). */
    for (long w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 1;
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], dir, "worker", argv[3], (char *)NULL);
            perror("exec");
            _exit(127);
        }
    }
    int failed = 0, status = 0;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;

    int64_t after = 0;
    rc = ziggy_get_int(db, "counter", 7, &after);
    if (rc != ZIGGY_OK) return fail("read", rc);
    ziggy_close(db);
    int64_t want = before + (int64_t)workers * n;
    printf("counter: %" PRId64 " -> %" PRId64 " after %ld processes x %ld increments (%s)\n",
           before, after, workers, n, after == want && !failed ? "exact" : "WRONG");
    return after == want && !failed ? 0 : 1;
}
