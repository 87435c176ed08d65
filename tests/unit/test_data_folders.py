"""Project groups and folders: the pure plan against given states (unit tier; the real
groups and folders are tested in tests/slurm/test_project_folders.py)."""

from __future__ import annotations

import pytest

from aifactory_hub.data import folders as f
from aifactory_hub.site import StorageSettings

S = StorageSettings(project_root="/p", scratch_root="/s")
GID = 70003
ROOTS = {"/p": f.Node("dir", 0, 0, 0o711), "/s": f.Node("dir", 0, 0, 0o711)}
GOOD = f.Node("dir", 0, GID, 0o2770)
ALICE_BOB = f.Group(GID, frozenset({"alice", "bob"}))


def state(group: f.Group | None = ALICE_BOB, **paths) -> f.State:
    nodes = {**ROOTS, "/p/ai-x": GOOD, "/s/ai-x": GOOD}
    nodes.update({k.replace("_", "/"): v for k, v in paths.items()})
    return f.State(group=group, paths=nodes)


def argvs(steps) -> list[tuple[str, ...]]:
    return [s.argv for s in steps]


def test_a_provisioned_project_needs_nothing():
    assert f.plan(S, "ai-x", ["bob", "alice"], state()) == []


def test_a_new_project_gets_group_members_roots_and_private_shared_folders_in_order():
    fresh = f.State(group=None, paths={})
    got = argvs(f.plan(S, "ai-x", ["alice", "bob"], fresh))
    assert got == [
        (f.GROUPADD, "-K", "GID_MIN=70000", "-K", "GID_MAX=79999", "ai-x"),
        (f.GPASSWD, "-M", "alice,bob", "ai-x"),
        (f.INSTALL, "-d", "-o", "root", "-g", "root", "-m", "711", "/p"),
        (f.INSTALL, "-d", "-o", "root", "-g", "ai-x", "-m", "2770", "/p/ai-x"),
        (f.SETFACL, "-d", "-m", f.DEFAULT_ACL, "/p/ai-x"),
        (f.INSTALL, "-d", "-o", "root", "-g", "root", "-m", "711", "/s"),
        (f.INSTALL, "-d", "-o", "root", "-g", "ai-x", "-m", "2770", "/s/ai-x"),
        (f.SETFACL, "-d", "-m", f.DEFAULT_ACL, "/s/ai-x"),
    ]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (["alice", "bob", "carol"], "alice,bob,carol"),  # the PI added carol
        (["alice"], "alice"),  # the PI removed bob
        ([], ""),  # the project ended: nobody
    ],
)
def test_membership_is_set_whole_so_adding_and_removing_are_one_step(members, expected):
    assert argvs(f.plan(S, "ai-x", members, state())) == [(f.GPASSWD, "-M", expected, "ai-x")]


def test_a_folder_opened_to_others_or_handed_to_someone_is_put_back():
    loose = f.Node("dir", 1001, GID, 0o2777)
    got = argvs(f.plan(S, "ai-x", ["alice", "bob"], state(**{"_p_ai-x": loose})))
    assert got == [(f.CHOWN, "root:ai-x", "/p/ai-x"), (f.CHMOD, "2770", "/p/ai-x")]
    lost_setgid = f.Node("dir", 0, GID, 0o770)
    assert argvs(f.plan(S, "ai-x", ["alice", "bob"], state(**{"_s_ai-x": lost_setgid}))) == [
        (f.CHMOD, "2770", "/s/ai-x")
    ]


def test_a_folder_without_the_shared_default_acl_gets_it():
    bare = f.Node("dir", 0, GID, 0o2770, acl=None)
    got = argvs(f.plan(S, "ai-x", ["alice", "bob"], state(**{"_p_ai-x": bare})))
    assert got == [(f.SETFACL, "-d", "-m", f.DEFAULT_ACL, "/p/ai-x")]


@pytest.mark.parametrize("gid", [0, 27, 1000, 69999, 80000])
def test_a_group_outside_the_project_range_is_never_taken_over(gid):
    """A project named like `sudo` (27) or a user's own group must not hand it out."""
    with pytest.raises(f.FolderError, match="not a project's group"):
        f.plan(S, "ai-x", ["alice"], state(group=f.Group(gid, frozenset())))
    with pytest.raises(f.FolderError, match="not a project's group"):
        f.remove_plan(S, "ai-x", state(group=f.Group(gid, frozenset())))


@pytest.mark.parametrize("kind", ["link", "other"])
def test_a_symlink_or_file_where_a_folder_belongs_is_refused_and_left_alone(kind):
    with pytest.raises(f.FolderError, match="left alone"):
        f.plan(S, "ai-x", ["alice"], state(**{"_p_ai-x": f.Node(kind)}))
    with pytest.raises(f.FolderError, match="not a directory"):
        f.plan(S, "ai-x", ["alice"], state(**{"_p": f.Node(kind)}))


def test_removal_deletes_the_folders_then_the_group_and_nothing_missing():
    assert argvs(f.remove_plan(S, "ai-x", state())) == [
        (f.RM, "-rf", "--one-file-system", "--", "/p/ai-x"),
        (f.RM, "-rf", "--one-file-system", "--", "/s/ai-x"),
        (f.GROUPDEL, "ai-x"),
    ]
    gone = f.State(group=None, paths=dict(ROOTS))
    assert f.remove_plan(S, "ai-x", gone) == []


def test_sessions_are_told_both_folders():
    assert {k: str(v) for k, v in f.project_paths(S, "ai-x").items()} == {
        "PROJECT_DIR": "/p/ai-x",
        "SCRATCH_DIR": "/s/ai-x",
    }


def test_the_roots_must_not_nest():
    with pytest.raises(ValueError, match="contain one another"):
        StorageSettings(project_root="/data", scratch_root="/data/scratch")
