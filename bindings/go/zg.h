// The C helpers of the cgo layer (zg.c; see cgo.go for why they exist).
#ifndef ZIGGYDB_GO_ZG_H
#define ZIGGYDB_GO_ZG_H

#include <stdint.h>
#include <stdlib.h>

#include "ziggydb.h"

typedef struct {
    int rc;          // the status
    int vtype;       // a ziggy_value's type (zg_get_value, zg_type)
    int64_t integer; // ziggy_incrby's result, an int/bool/timestamp value
    double real;     // a float value
    void *ptr;       // bytes the library allocated (free with ziggy_free), or NULL
    size_t len;      // bytes at ptr, or bytes copied into the caller's buffer
    char *err;       // a copy of ziggy_errmsg() on a failure (free with free), or NULL
} zg_res;

zg_res zg_open(const char *path, int custom, ziggy_options o, ziggy_db **out);
ziggy_options zg_options_default(void);
zg_res zg_get(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, void *dst, size_t cap);
zg_res zg_set(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, const void *v, size_t vl);
zg_res zg_del(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl);
zg_res zg_incrby(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, int64_t d);
zg_res zg_get_value(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl, void *dst, size_t cap);
zg_res zg_set_value(ziggy_db *db, ziggy_txn *tx, const void *k, size_t kl,
                  int vtype, int64_t integer, double real, const void *data, size_t len);
zg_res zg_get_int(ziggy_db *db, const void *k, size_t kl);
zg_res zg_get_float(ziggy_db *db, const void *k, size_t kl);
zg_res zg_type(ziggy_db *db, const void *k, size_t kl);
zg_res zg_txn_begin(ziggy_db *db, ziggy_txn **out);
zg_res zg_txn_commit(ziggy_txn *tx);
zg_res zg_sync(ziggy_db *db);
zg_res zg_exec(ziggy_db *db, ziggy_txn *tx, int argc,
               const char *data, const size_t *lens, void *dst, size_t cap);
zg_res zg_session_open(ziggy_db *db, ziggy_session **out);
zg_res zg_interrupter(ziggy_session *s, ziggy_interrupter **out);
zg_res zg_session_exec(ziggy_session *s, int argc, const char *data, const size_t *lens,
                       void *dst, size_t cap);
zg_res zg_next_message(ziggy_session *s, int64_t timeout_ms, void *dst, size_t cap);

#endif
