/* The smallest program, built with `cc app.c $(pkg-config --cflags --libs ziggydb)`. */
#include <stdio.h>
#include <string.h>

#include <ziggydb.h>

int main(int argc, char **argv) {
    ziggy_db *db = NULL;
    if (argc != 2 || ziggy_open(argv[1], NULL, &db) != ZIGGY_OK) {
        fprintf(stderr, "app: %s\n", ziggy_errmsg());
        return 1;
    }
    int64_t n = 0;
    int rc = ziggy_incrby(db, "runs", 4, 1, &n);
    ziggy_close(db);
    printf("ziggydb %s: runs = %lld\n", ziggy_version(), (long long)n);
    return rc == ZIGGY_OK ? 0 : 1;
}
