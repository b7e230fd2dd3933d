module ziggydb.dev/ziggydb

go 1.19
