// ziggydb.hpp: a header-only C++17 wrapper over ziggydb.h (link with -lziggydb).
//
//     ziggy::Db db{"data.db"};
//     db.exec({"ZADD", "board", "10", "ada"});
//     std::optional<std::string> v = db.get("greeting");
//     db.transaction([](ziggy::Transaction &tx) { tx.incrby("visits"); });
//
// RAII handles (Db, Session, Transaction: a transaction rolls back on destruction unless
// committed), byte views in (std::string_view: binary-safe, NUL bytes allowed),
// std::optional<std::string> out, Reply as a std::variant-based value, and every failure as a
// ziggy::Error exception carrying the library's stable code (ZIGGY_WRONG_TYPE, ...). A missing
// key is std::nullopt or false, never an exception. A Db is thread-safe; a Session and a
// Transaction are used by one thread at a time.
#ifndef ZIGGYDB_HPP
#define ZIGGYDB_HPP

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ziggydb.h"

namespace ziggy {

/// A failed call: the library's code (ZIGGY_BUSY, ZIGGY_WRONG_TYPE, ...) and its message.
class Error : public std::runtime_error {
  public:
    Error(int code, const std::string &message)
        : std::runtime_error(std::string(ziggy_errname(code)) + ": " + message), code_(code) {}
    /// The code, one of the ZIGGY_ constants.
    int code() const noexcept { return code_; }
    /// The code's name ("WRONG_TYPE" for ZIGGY_WRONG_TYPE).
    const char *name() const noexcept { return ziggy_errname(code_); }

  private:
    int code_;
};

namespace detail {
/// Throws the Error for `rc` unless it is ZIGGY_OK or ZIGGY_NOTFOUND; true for ZIGGY_OK.
inline bool check(int rc) {
    if (rc == ZIGGY_OK) return true;
    if (rc == ZIGGY_NOTFOUND) return false;
    throw Error(rc, ziggy_errmsg());
}

/// Takes a malloc'd value from the library into a std::string.
inline std::string take(void *p, size_t len) {
    std::string s(static_cast<const char *>(p), len);
    ziggy_free(p);
    return s;
}
} // namespace detail

/// A reply to a command: a std::variant of the RESP3 kinds.
class Reply {
  public:
    /// The null reply (a missing key; EXEC after a WATCHed key changed).
    struct Nil {
        bool operator==(const Nil &) const { return true; }
    };
    /// A status line such as "OK".
    struct Status {
        std::string text;
        bool operator==(const Status &o) const { return text == o.text; }
    };
    /// An error reply such as "WRONGTYPE ...": the command failed, not the call.
    struct ErrorReply {
        std::string text;
        bool operator==(const ErrorReply &o) const { return text == o.text; }
    };
    /// An unordered collection.
    struct Set {
        std::vector<Reply> items;
        bool operator==(const Set &o) const { return items == o.items; }
    };
    /// Key-value pairs in order.
    struct Map {
        std::vector<std::pair<Reply, Reply>> entries;
        bool operator==(const Map &o) const { return entries == o.entries; }
    };
    /// Verbatim text (INFO's).
    struct Verbatim {
        std::string text;
        bool operator==(const Verbatim &o) const { return text == o.text; }
    };
    using Array = std::vector<Reply>;
    /// A bulk string is a std::string (bytes), an integer a long long.
    using Value = std::variant<Nil, std::string, Status, ErrorReply, long long, double, bool,
                               Array, Map, Set, Verbatim>;

    Reply() : value_(Nil{}) {}
    Reply(Value v) : value_(std::move(v)) {}

    /// Copies a C reply (the caller still frees it).
    static Reply from_c(const ziggy_reply *r) {
        size_t len = 0;
        const char *s = ziggy_reply_str(r, &len);
        auto text = [&] { return std::string(s ? s : "", len); };
        auto items = [&] {
            Array a;
            for (size_t i = 0, n = ziggy_reply_len(r); i < n; i++)
                a.push_back(from_c(ziggy_reply_element(r, i)));
            return a;
        };
        switch (ziggy_reply_type(r)) {
        case ZIGGY_REPLY_BULK: return Reply(text());
        case ZIGGY_REPLY_STATUS: return Reply(Status{text()});
        case ZIGGY_REPLY_ERROR: return Reply(ErrorReply{text()});
        case ZIGGY_REPLY_INTEGER: return Reply(static_cast<long long>(ziggy_reply_integer(r)));
        case ZIGGY_REPLY_DOUBLE: return Reply(ziggy_reply_double(r));
        case ZIGGY_REPLY_BOOL: return Reply(ziggy_reply_integer(r) != 0);
        case ZIGGY_REPLY_ARRAY: return Reply(items());
        case ZIGGY_REPLY_SET: return Reply(Set{items()});
        case ZIGGY_REPLY_VERBATIM: return Reply(Verbatim{text()});
        case ZIGGY_REPLY_MAP: {
            Array flat = items();
            Map m;
            for (size_t i = 0; i + 1 < flat.size(); i += 2)
                m.entries.emplace_back(std::move(flat[i]), std::move(flat[i + 1]));
            return Reply(std::move(m));
        }
        default: return Reply();
        }
    }

    /// The variant itself, for std::visit and std::get.
    const Value &value() const noexcept { return value_; }
    /// True if it holds a `T` (one of Value's alternatives).
    template <class T> bool is() const noexcept { return std::holds_alternative<T>(value_); }
    /// The `T` it holds; std::bad_variant_access otherwise.
    template <class T> const T &as() const { return std::get<T>(value_); }

    bool is_nil() const noexcept { return is<Nil>(); }
    bool is_error() const noexcept { return is<ErrorReply>(); }
    /// An integer reply's value.
    long long integer() const { return as<long long>(); }
    /// The text of a bulk, status, error or verbatim reply; std::bad_variant_access otherwise.
    const std::string &str() const {
        if (auto s = std::get_if<std::string>(&value_)) return *s;
        if (auto s = std::get_if<Status>(&value_)) return s->text;
        if (auto s = std::get_if<ErrorReply>(&value_)) return s->text;
        return as<Verbatim>().text;
    }
    /// Elements of an array or a set (empty for others).
    const Array &items() const {
        static const Array none;
        if (auto a = std::get_if<Array>(&value_)) return *a;
        if (auto s = std::get_if<Set>(&value_)) return s->items;
        return none;
    }
    size_t size() const { return is<Map>() ? as<Map>().entries.size() : items().size(); }
    const Reply &operator[](size_t i) const { return items().at(i); }

    bool operator==(const Reply &o) const { return value_ == o.value_; }
    bool operator!=(const Reply &o) const { return !(*this == o); }

  private:
    Value value_;
};

namespace detail {
/// Runs a command through `run(argc, argv, argvlen, &reply)` and converts its reply.
template <class Run, class Range> Reply exec(Run run, const Range &args) {
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const auto &a : args) {
        std::string_view v(a);
        argv.push_back(v.data());
        lens.push_back(v.size());
    }
    ziggy_reply *r = nullptr;
    check(run(static_cast<int>(argv.size()), argv.data(), lens.data(), &r));
    struct Free {
        ziggy_reply *r;
        ~Free() { ziggy_reply_free(r); }
    } guard{r};
    return Reply::from_c(r);
}
} // namespace detail

/// Options for opening a database (ziggy_options with its defaults filled in).
struct Options : ziggy_options {
    Options() { ziggy_options_init(this); }
};

/// A write transaction (ziggy_txn): holds the writer lock until commit() or its destruction,
/// which rolls it back unless it was committed.
class Transaction {
  public:
    explicit Transaction(ziggy_db *db) { detail::check(ziggy_txn_begin(db, &t_)); }
    ~Transaction() { ziggy_txn_rollback(t_); }
    Transaction(Transaction &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    Transaction &operator=(Transaction &&o) noexcept {
        if (this != &o) {
            ziggy_txn_rollback(t_);
            t_ = std::exchange(o.t_, nullptr);
        }
        return *this;
    }
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

    std::optional<std::string> get(std::string_view key) {
        void *v = nullptr;
        size_t n = 0;
        if (!detail::check(ziggy_txn_get(live(), key.data(), key.size(), &v, &n)))
            return std::nullopt;
        return detail::take(v, n);
    }
    void set(std::string_view key, std::string_view value) {
        detail::check(ziggy_txn_set(live(), key.data(), key.size(), value.data(), value.size()));
    }
    /// True if the key existed.
    bool del(std::string_view key) {
        return detail::check(ziggy_txn_del(live(), key.data(), key.size()));
    }
    int64_t incrby(std::string_view key, int64_t delta = 1) {
        int64_t out = 0;
        detail::check(ziggy_txn_incrby(live(), key.data(), key.size(), delta, &out));
        return out;
    }
    void set_value(std::string_view key, const ziggy_value &v) {
        detail::check(ziggy_txn_set_value(live(), key.data(), key.size(), &v));
    }
    /// Any data command inside the transaction (ziggy_txn_exec); an error reply is a Reply,
    /// and leaves the transaction as it was before the command.
    Reply exec(std::initializer_list<std::string_view> args) { return exec_range(args); }
    template <class Range> Reply exec_range(const Range &args) {
        ziggy_txn *t = live();
        return detail::exec(
            [&](int c, const char *const *v, const size_t *l, ziggy_reply **r) {
                return ziggy_txn_exec(t, c, v, l, r);
            },
            args);
    }
    /// Commits; the transaction is over whatever the outcome (throws ziggy::Error on failure).
    void commit() { detail::check(ziggy_txn_commit(std::exchange(t_, nullptr))); }
    /// Rolls back now.
    void rollback() { ziggy_txn_rollback(std::exchange(t_, nullptr)); }

  private:
    ziggy_txn *live() {
        if (!t_) throw Error(ZIGGY_INVALID_ARGUMENT, "the transaction has ended");
        return t_;
    }
    ziggy_txn *t_ = nullptr;
};

/// A session (ziggy_session): MULTI/EXEC, WATCH and BEGIN/COMMIT keep their state.
class Session {
  public:
    explicit Session(ziggy_db *db) { detail::check(ziggy_session_open(db, &s_)); }
    ~Session() { ziggy_session_close(s_); }
    Session(Session &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Session &operator=(Session &&o) noexcept {
        if (this != &o) {
            ziggy_session_close(s_);
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    Reply exec(std::initializer_list<std::string_view> args) { return exec_range(args); }
    template <class Range> Reply exec_range(const Range &args) {
        return detail::exec(
            [&](int c, const char *const *v, const size_t *l, ziggy_reply **r) {
                return ziggy_session_exec(s_, c, v, l, r);
            },
            args);
    }

    /// The next Pub/Sub message after SUBSCRIBE/PSUBSCRIBE (an array "message", channel,
    /// payload), waiting up to timeout_ms (0: only what is there; negative: until one
    /// comes); std::nullopt if none came (ziggy_session_next_message).
    std::optional<Reply> next_message(int64_t timeout_ms) {
        ziggy_reply *r = nullptr;
        detail::check(ziggy_session_next_message(s_, timeout_ms, &r));
        if (!r) return std::nullopt;
        Reply out = Reply::from_c(r);
        ziggy_reply_free(r);
        return out;
    }

    /// Ends this session's blocking command (BLPOP...) from any thread: interrupt() makes
    /// it reply as at its timeout (ziggy_session_interrupter). Outlives the session safely.
    class Interrupter {
      public:
        explicit Interrupter(ziggy_session *s) { detail::check(ziggy_session_interrupter(s, &i_)); }
        ~Interrupter() { ziggy_interrupter_free(i_); }
        Interrupter(Interrupter &&o) noexcept : i_(std::exchange(o.i_, nullptr)) {}
        Interrupter(const Interrupter &) = delete;
        Interrupter &operator=(const Interrupter &) = delete;
        Interrupter &operator=(Interrupter &&) = delete;
        void interrupt() const noexcept { ziggy_interrupt(i_); }

      private:
        ziggy_interrupter *i_ = nullptr;
    };
    Interrupter interrupter() { return Interrupter(s_); }

  private:
    ziggy_session *s_ = nullptr;
};

/// An open database (ziggy_db). Thread-safe; movable, not copyable.
class Db {
  public:
    explicit Db(const std::string &path) { detail::check(ziggy_open(path.c_str(), nullptr, &db_)); }
    Db(const std::string &path, const Options &opts) {
        detail::check(ziggy_open(path.c_str(), &opts, &db_));
    }
    ~Db() { ziggy_close(db_); }
    Db(Db &&o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
    Db &operator=(Db &&o) noexcept {
        if (this != &o) {
            ziggy_close(db_);
            db_ = std::exchange(o.db_, nullptr);
        }
        return *this;
    }
    Db(const Db &) = delete;
    Db &operator=(const Db &) = delete;

    /// The C handle, for calls this wrapper does not have.
    ziggy_db *handle() const noexcept { return db_; }

    /// GET: the value as GET shows it, or std::nullopt.
    std::optional<std::string> get(std::string_view key) const {
        void *v = nullptr;
        size_t n = 0;
        if (!detail::check(ziggy_get(db_, key.data(), key.size(), &v, &n))) return std::nullopt;
        return detail::take(v, n);
    }
    /// SET of bytes.
    void set(std::string_view key, std::string_view value) {
        detail::check(ziggy_set(db_, key.data(), key.size(), value.data(), value.size()));
    }
    /// DEL: true if the key existed.
    bool del(std::string_view key) { return detail::check(ziggy_del(db_, key.data(), key.size())); }
    /// INCRBY: the new value.
    int64_t incrby(std::string_view key, int64_t delta = 1) {
        int64_t out = 0;
        detail::check(ziggy_incrby(db_, key.data(), key.size(), delta, &out));
        return out;
    }
    /// Typed writes.
    void set_int(std::string_view key, int64_t v) { set_value(key, value_of(ZIGGY_TYPE_INT, v)); }
    void set_float(std::string_view key, double v) {
        ziggy_value z = value_of(ZIGGY_TYPE_FLOAT, 0);
        z.real = v;
        set_value(key, z);
    }
    void set_bool(std::string_view key, bool v) { set_value(key, value_of(ZIGGY_TYPE_BOOL, v)); }
    void set_timestamp(std::string_view key, int64_t unix_ms) {
        set_value(key, value_of(ZIGGY_TYPE_TIMESTAMP, unix_ms));
    }
    void set_json(std::string_view key, std::string_view json) {
        set_value(key, text_of(ZIGGY_TYPE_JSON, json));
    }
    void set_string(std::string_view key, std::string_view utf8) {
        set_value(key, text_of(ZIGGY_TYPE_STRING, utf8));
    }
    void set_value(std::string_view key, const ziggy_value &v) {
        detail::check(ziggy_set_value(db_, key.data(), key.size(), &v));
    }
    /// Typed reads: std::nullopt for a missing key; ziggy::Error if it is not of the type.
    std::optional<int64_t> get_int(std::string_view key) const {
        int64_t v = 0;
        if (!detail::check(ziggy_get_int(db_, key.data(), key.size(), &v))) return std::nullopt;
        return v;
    }
    std::optional<double> get_float(std::string_view key) const {
        double v = 0;
        if (!detail::check(ziggy_get_float(db_, key.data(), key.size(), &v))) return std::nullopt;
        return v;
    }
    /// The stored type (ZIGGY_TYPE_*), ZIGGY_TYPE_NONE for a missing key.
    int type(std::string_view key) const {
        int t = ZIGGY_TYPE_NONE;
        detail::check(ziggy_type(db_, key.data(), key.size(), &t));
        return t;
    }

    /// Any command, atomically, on its own (error replies are replies, not exceptions).
    Reply exec(std::initializer_list<std::string_view> args) { return exec_range(args); }
    template <class Range> Reply exec_range(const Range &args) {
        return detail::exec(
            [&](int c, const char *const *v, const size_t *l, ziggy_reply **r) {
                return ziggy_exec(db_, c, v, l, r);
            },
            args);
    }

    Session session() { return Session(db_); }
    Transaction begin() { return Transaction(db_); }
    /// Runs `f(tx)` in a transaction: commits when it returns, rolls back when it throws.
    template <class F> auto transaction(F &&f) {
        Transaction tx(db_);
        if constexpr (std::is_void_v<decltype(f(tx))>) {
            f(tx);
            tx.commit();
        } else {
            auto out = f(tx);
            tx.commit();
            return out;
        }
    }

    ziggy_metrics metrics() const {
        ziggy_metrics m{};
        m.size = sizeof m;
        detail::check(ziggy_db_metrics(db_, &m));
        return m;
    }
    ziggy_compact_stats compact() {
        ziggy_compact_stats s{};
        detail::check(ziggy_compact(db_, &s));
        return s;
    }
    ziggy_backup_stats backup(const std::string &dest) {
        ziggy_backup_stats s{};
        detail::check(ziggy_backup(db_, dest.c_str(), &s));
        return s;
    }
    /// CHECK: one line per problem; empty when the database is sound.
    std::vector<std::string> check() const {
        ziggy_check_report r{};
        char *text = nullptr;
        detail::check(ziggy_check(db_, &r, &text));
        std::vector<std::string> lines;
        if (text) {
            std::string all = detail::take(text, std::char_traits<char>::length(text));
            size_t start = 0;
            for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1)
                lines.push_back(all.substr(start, nl - start));
            lines.push_back(all.substr(start));
        }
        return lines;
    }
    void sync() { detail::check(ziggy_sync(db_)); }

  private:
    static ziggy_value value_of(int type, int64_t i) {
        ziggy_value v{};
        v.vtype = type;
        v.integer = i;
        return v;
    }
    static ziggy_value text_of(int type, std::string_view s) {
        ziggy_value v{};
        v.vtype = type;
        v.data = s.data();
        v.len = s.size();
        return v;
    }
    ziggy_db *db_ = nullptr;
};

} // namespace ziggy

#endif // ZIGGYDB_HPP
