"""Which filesystem a path is on decides how the saver writes there (``direct_planes.py``)."""

from __future__ import annotations

from lightsheet.storage.filesystem import mount_of

MOUNTS = (
    "tmpfs /dev/shm tmpfs rw,relatime,size=100k 0 0\n"
    "/dev/vda / ext4 rw,relatime 0 0\n"
    "tmpfs /dev/shm tmpfs rw,relatime,size=100k,huge=advise 0 0\n"
    "/dev/vdb /data xfs rw 0 0\n"
    "tmpfs /data/ram tmpfs rw 0 0\n"
)


def test_of_two_mounts_on_one_folder_the_later_one_is_what_a_path_is_on():
    """/dev/shm mounted twice (this VM: the later mount hides the earlier; a remount changes
    only the later's options): the later entry is the one that counts."""
    assert mount_of("/dev/shm/run/chunks", MOUNTS) == ("tmpfs", "rw,relatime,size=100k,huge=advise")


def test_the_longest_mount_point_containing_a_path_is_its_filesystem():
    assert mount_of("/data/run", MOUNTS) == ("xfs", "rw")
    assert mount_of("/data/ram/run", MOUNTS) == ("tmpfs", "rw")
    assert mount_of("/work/run", MOUNTS) == ("ext4", "rw,relatime")
    assert mount_of("/dataset", MOUNTS)[0] == "ext4"  # /data is not a parent of /dataset
