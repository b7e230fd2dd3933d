"""db.list, db.hash, db.set_of and db.sortedset."""
import pytest

import ziggydb


def test_list(db):
    jobs = db.list("jobs")
    assert len(jobs) == 0 and list(jobs) == []
    assert jobs.push("b", "c") == 2
    assert jobs.pushleft("a") == 3
    jobs.append(b"d\x00")
    jobs.extend(["e", 6])
    assert list(jobs) == [b"a", b"b", b"c", b"d\x00", b"e", b"6"]
    assert len(jobs) == 6
    assert jobs[0] == b"a" and jobs[-1] == b"6"
    assert jobs[1:3] == [b"b", b"c"]
    assert jobs[:-1] == [b"a", b"b", b"c", b"d\x00", b"e"]
    assert jobs[4:] == [b"e", b"6"]
    assert jobs[::2] == [b"a", b"c", b"e"]
    assert jobs[3:1] == [] and jobs[:0] == []
    with pytest.raises(IndexError):
        jobs[10]
    jobs[0] = "A"
    assert jobs[0] == b"A"
    with pytest.raises(IndexError):
        jobs[10] = "x"
    assert b"c" in jobs and "zz" not in jobs
    assert jobs.pop() == b"6" and jobs.popleft() == b"A"
    assert jobs.range(0, 1) == [b"b", b"c"]
    assert jobs.remove("c") == 1
    jobs.clear()
    assert "jobs" not in db and jobs.pop() is None


def test_hash(db):
    user = db.hash("user:1")
    user["name"] = "ada"
    user.update({"lang": "python"}, born=1815)
    assert user["name"] == b"ada" and user["born"] == b"1815"
    assert len(user) == 3 and "lang" in user and "age" not in user
    assert sorted(user) == [b"born", b"lang", b"name"]
    assert user.get("age") is None and user.get("name") == b"ada"
    assert user.to_dict() == {b"name": b"ada", b"lang": b"python", b"born": b"1815"}
    assert dict(user.items()) == user.to_dict()
    del user["lang"]
    with pytest.raises(KeyError):
        del user["lang"]
    with pytest.raises(KeyError):
        user["lang"]
    assert user == {b"name": b"ada", b"born": b"1815"}


def test_set(db):
    tags = db.set_of("tags")
    assert tags.add("a", "b", "b") == 2
    assert tags.add("a") == 0
    assert "a" in tags and "z" not in tags and len(tags) == 2
    assert tags.members() == {b"a", b"b"}
    assert sorted(tags) == [b"a", b"b"]
    tags.remove("a")
    with pytest.raises(KeyError):
        tags.remove("a")
    assert tags.discard("a") == 0 and tags.discard("b") == 1
    assert len(tags) == 0


def test_sortedset(db):
    board = db.sortedset("board")
    assert board.add({"ada": 10, "bob": 2.5}) == 2
    board["cy"] = 7
    assert board.add(dan=1) == 1
    assert board["ada"] == 10.0 and type(board["ada"]) is float
    assert board.score("nobody") is None
    with pytest.raises(KeyError):
        board["nobody"]
    assert len(board) == 4 and "cy" in board and "nobody" not in board
    assert list(board) == [b"dan", b"bob", b"cy", b"ada"]
    assert board.range(0, 1, withscores=True) == [(b"dan", 1.0), (b"bob", 2.5)]
    assert board.range(0, 0, reverse=True) == [b"ada"]
    assert board.range_by_score(2, 8) == [b"bob", b"cy"]
    assert board.range_by_score("(2.5", "+inf", withscores=True) == [(b"cy", 7.0), (b"ada", 10.0)]
    assert board.rank("ada") == 3 and board.rank("ada", reverse=True) == 0
    assert board.rank("nobody") is None
    assert board.incr("bob", 10) == 12.5
    del board["dan"]
    assert board.remove("cy", "nobody") == 1
    assert list(board) == [b"ada", b"bob"]


def test_wrong_type_through_a_helper(db):
    db.set("s", "text")
    with pytest.raises(ziggydb.WrongTypeError):
        db.list("s").push("x")
    with pytest.raises(ziggydb.WrongTypeError):
        len(db.hash("s"))
