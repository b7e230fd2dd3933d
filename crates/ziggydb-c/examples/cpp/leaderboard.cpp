// Several processes play rounds on one leaderboard through the C++ wrapper: each round adds
// a point to the player's score (ZINCRBY) and to the total (INCR) in one MULTI/EXEC, so the
// scores always add up to the total.
//
//   leaderboard DIR PLAYERS ROUNDS      starts PLAYERS processes (fork + exec), waits, prints
//                                       the board and checks it
//   leaderboard DIR play NAME ROUNDS    one player
//
// Build: c++ -std=c++17 leaderboard.cpp $(pkg-config --cflags --libs ziggydb) -o leaderboard
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ziggydb.hpp"

static int play(const std::string &dir, const std::string &name, int rounds) {
    ziggy::Db db{dir};
    ziggy::Session s = db.session();
    for (int i = 0; i < rounds; i++) {
        s.exec({"MULTI"});
        s.exec({"ZINCRBY", "board", "1", name});
        s.exec({"INCR", "rounds"});
        ziggy::Reply r = s.exec({"EXEC"});
        if (r.size() != 2) return 1;
    }
    return 0;
}

int main(int argc, char **argv) try {
    if (argc == 5 && std::string(argv[2]) == "play") return play(argv[1], argv[3], std::atoi(argv[4]));
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s DIR PLAYERS ROUNDS\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    int players = std::atoi(argv[2]);
    {
        ziggy::Db db{dir};
        db.exec({"DEL", "board", "rounds"});
    }
    for (int p = 0; p < players; p++) {
        std::string name = "player-" + std::to_string(p);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], argv[1], "play", name.c_str(), argv[3], (char *)nullptr);
            _exit(127);
        }
    }
    int failed = 0, status = 0;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;

    ziggy::Db db{dir};
    ziggy::Reply board = db.exec({"ZREVRANGE", "board", "0", "-1", "WITHSCORES"});
    long long sum = 0;
    for (size_t i = 0; i + 1 < board.size(); i += 2) {
        std::printf("%-10s %s\n", board[i].str().c_str(), board[i + 1].str().c_str());
        sum += std::atoll(board[i + 1].str().c_str());
    }
    long long rounds = db.get_int("rounds").value_or(0);
    long long want = static_cast<long long>(players) * std::atoi(argv[3]);
    bool ok = !failed && sum == rounds && rounds == want && board.size() == 2u * players;
    std::printf("leaderboard: %lld points, %lld rounds, %lld expected (%s)\n", sum, rounds, want,
                ok ? "exact" : "WRONG");
    return ok ? 0 : 1;
} catch (const ziggy::Error &e) {
    std::fprintf(stderr, "leaderboard: %s\n", e.what());
    return 1;
}
