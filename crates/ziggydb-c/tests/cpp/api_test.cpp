// The C++ wrapper: RAII handles, Reply as a variant, ziggy::Error with its code, binary
// views, transactions that roll back when they throw, threads sharing one Db.
//
// Usage: api_test_cpp DIR   (an empty scratch directory). Prints "N passed, M failed".
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ziggydb.hpp"

static int passed, failed;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                                  \
    } while (0)

template <class F> static int error_code(F &&f) {
    try {
        f();
    } catch (const ziggy::Error &e) {
        return e.code();
    }
    return ZIGGY_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    std::string base = argv[1];
    {
        // The example, as it is written there.
        ziggy::Db db{base + "/data.db"};
        db.exec({"ZADD", "board", "10", "ada"});
        ziggy::Reply r = db.exec({"ZSCORE", "board", "ada"});
        CHECK(r.is<std::string>() && r.str() == "10");
        r = db.exec({"ZRANGE", "board", "0", "-1", "WITHSCORES"});
        CHECK(r.is<ziggy::Reply::Array>() && r.size() == 2 && r[0].str() == "ada");

        // Bytes with NUL in and out; a missing key is nullopt.
        std::string key("k\0ey", 4), val("v\0\xff", 3);
        db.set(key, val);
        CHECK(db.get(key) == val);
        CHECK(!db.get(std::string_view("k", 1)).has_value());
        CHECK(db.del(key) && !db.del(key));
        CHECK(db.incrby("n", 5) == 5 && db.incrby("n") == 6);

        // Typed values.
        db.set_int("i", -3);
        db.set_float("f", 0.5);
        db.set_bool("b", true);
        db.set_timestamp("t", 1700000000000);
        db.set_json("j", "[1,2]");
        db.set_string("s", "text");
        CHECK(db.get_int("i") == -3 && db.get_float("f") == 0.5);
        CHECK(db.type("b") == ZIGGY_TYPE_BOOL && db.type("t") == ZIGGY_TYPE_TIMESTAMP);
        CHECK(db.type("j") == ZIGGY_TYPE_JSON && db.get("j") == "[1,2]");
        CHECK(db.type("nope") == ZIGGY_TYPE_NONE && !db.get_int("nope"));
        CHECK(error_code([&] { db.set_json("j", "{"); }) == ZIGGY_INVALID_JSON);
        CHECK(error_code([&] { db.get_int("s"); }) == ZIGGY_NOT_AN_INTEGER);

        // Replies: every kind a command gives, as variant alternatives.
        CHECK(db.exec({"SET", "greeting", "hi"}) ==
              ziggy::Reply(ziggy::Reply::Status{"OK"}));
        CHECK(db.exec({"GET", "greeting"}) == ziggy::Reply(std::string("hi")));
        CHECK(db.exec({"GET", "missing"}).is_nil());
        CHECK(db.exec({"INCR", "n"}).integer() == 7);
        ziggy::Reply wrong = db.exec({"LPUSH", "greeting", "x"});
        CHECK(wrong.is_error() && wrong.str().rfind("WRONGTYPE", 0) == 0);
        std::vector<std::string> args{"RPUSH", "l", "a", "b"};
        CHECK(db.exec_range(args).integer() == 2);
        ziggy::Reply scan = db.exec({"SCAN", "0", "MATCH", "l", "COUNT", "100"});
        CHECK(scan.size() == 2 && scan[1].size() == 1 && scan[1][0].str() == "l");

        // Errors are exceptions with the code and the message.
        try {
            db.incrby("l", 1);
            CHECK(false);
        } catch (const ziggy::Error &e) {
            CHECK(e.code() == ZIGGY_WRONG_TYPE && std::string(e.name()) == "WRONG_TYPE");
            CHECK(std::strstr(e.what(), "WRONG_TYPE") != nullptr);
        }

        // Transactions: commit on return, rollback on throw or destruction.
        int64_t got = db.transaction([](ziggy::Transaction &tx) {
            tx.set("a", "1");
            return tx.incrby("a", 9);
        });
        CHECK(got == 10 && db.get("a") == "10");
        int64_t queued = db.transaction([](ziggy::Transaction &tx) {
            tx.exec({"RPUSH", "queue", "x", "y"});
            CHECK(tx.exec({"LPUSH", "a", "x"}).is_error());
            return tx.exec({"LLEN", "queue"}).integer();
        });
        CHECK(queued == 2 && db.exec({"LLEN", "queue"}).integer() == 2);
        try {
            db.transaction([](ziggy::Transaction &tx) {
                tx.set("a", "lost");
                throw std::runtime_error("no");
            });
        } catch (const std::runtime_error &) {
        }
        CHECK(db.get("a") == "10");
        {
            ziggy::Transaction tx = db.begin();
            tx.set("a", "dropped");
            CHECK(tx.get("a") == "dropped");
        }
        CHECK(db.get("a") == "10");
        {
            ziggy::Transaction tx = db.begin();
            CHECK(tx.del("a") && !tx.get("a"));
            ziggy_value v{};
            v.vtype = ZIGGY_TYPE_INT;
            v.integer = 5;
            tx.set_value("five", v);
            tx.commit();
            CHECK(error_code([&] { tx.set("x", "y"); }) == ZIGGY_INVALID_ARGUMENT);
            tx.rollback(); // after the end: nothing
        }
        CHECK(!db.get("a") && db.get_int("five") == 5);

        // Sessions keep MULTI state; moved handles stay valid.
        ziggy::Session s = db.session();
        ziggy::Session moved = std::move(s);
        CHECK(moved.exec({"MULTI"}).str() == "OK");
        CHECK(moved.exec({"INCR", "m"}).str() == "QUEUED");
        ziggy::Reply ex = moved.exec({"EXEC"});
        CHECK(ex.size() == 1 && ex[0].integer() == 1);

        // A blocking pop on another thread: ended by the interrupter, then woken by a push.
        {
            ziggy::Session waiter = db.session();
            ziggy::Session::Interrupter stop = waiter.interrupter();
            ziggy::Reply got;
            std::thread t([&] { got = waiter.exec({"BLPOP", "cppq", "0"}); });
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            stop.interrupt();
            t.join();
            CHECK(got.is_nil());
            std::thread t2([&] { got = waiter.exec({"BRPOP", "cppq", "0"}); });
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            CHECK(db.exec({"RPUSH", "cppq", "a", "b"}).integer() == 2);
            t2.join();
            CHECK(got.size() == 2 && got[1].str() == "b");
            // Pub/Sub: the subscription's reply, then a message from another handle.
            CHECK(waiter.exec({"SUBSCRIBE", "cppch"}).size() == 3);
            CHECK(!waiter.next_message(0).has_value());
            CHECK(db.exec({"PUBLISH", "cppch", "hi"}).integer() == 1);
            std::optional<ziggy::Reply> m = waiter.next_message(10000);
            CHECK(m.has_value() && m->size() == 3 && (*m)[0].str() == "message" &&
                  (*m)[2].str() == "hi");
        }

        // Threads share one Db.
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; t++)
            threads.emplace_back([&db] {
                for (int i = 0; i < 200; i++) db.incrby("threads");
            });
        for (auto &t : threads) t.join();
        CHECK(db.get_int("threads") == 800);

        // Maintenance.
        CHECK(db.metrics().keys > 5);
        CHECK(db.compact().bytes_after <= db.compact().bytes_before + (1u << 30));
        CHECK(db.backup(base + "/copy").keys > 5);
        CHECK(db.check().empty());
        db.sync();
        ziggy::Db moved_db = std::move(db);
        CHECK(moved_db.get("greeting") == "hi");
    }
    // Opening errors.
    CHECK(error_code([&] { ziggy::Db bad{base + "/data.db/MANIFEST"}; }) == ZIGGY_NOT_A_DIRECTORY);
    ziggy::Options o;
    o.lock_timeout_ms = 100;
    o.read_only = true;
    {
        ziggy::Db ro{base + "/data.db", o};
        CHECK(ro.get("greeting") == "hi");
        CHECK(error_code([&] { ro.set("k", "v"); }) == ZIGGY_READ_ONLY);
    }

    // Reply kinds no command gives yet, built directly.
    ziggy::Reply::Map m;
    m.entries.emplace_back(ziggy::Reply(std::string("k")), ziggy::Reply(1.5));
    ziggy::Reply map(m);
    CHECK(map.size() == 1 && map.as<ziggy::Reply::Map>().entries[0].second.as<double>() == 1.5);
    CHECK(ziggy::Reply(true).as<bool>() && ziggy::Reply(ziggy::Reply::Set{}).items().empty());

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
