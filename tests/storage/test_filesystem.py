"""Which filesystem a path is on decides how the saver writes there (``direct_planes.py``)."""

from __future__ import annotations

from lightsheet.storage.filesystem import filesystem_type, mount_options

MOUNTS = (
    "/dev/vda / ext4 rw,relatime 0 0\n"
    "/dev/vdb /data xfs rw 0 0\n"
    "tmpfs /data/ram tmpfs rw 0 0\n"
    "/dev/vdc /scratch ext4 rw 0 0\n"
    "tmpfs /scratch tmpfs rw,size=100k 0 0\n"
)


def test_of_two_mounts_on_one_folder_the_later_one_is_what_a_path_is_on():
    """A folder mounted twice (this VM's /dev/shm is): the later mount hides the earlier."""
    assert filesystem_type("/scratch/run/chunks", MOUNTS) == "tmpfs"


def test_the_longest_mount_point_containing_a_path_is_its_filesystem():
    assert filesystem_type("/data/run", MOUNTS) == "xfs"
    assert filesystem_type("/data/ram/run", MOUNTS) == "tmpfs"
    assert filesystem_type("/work/run", MOUNTS) == "ext4"
    assert filesystem_type("/dataset", MOUNTS) == "ext4"  # /data is not a parent of /dataset


def test_a_paths_mount_options_are_those_of_the_mount_it_is_on():
    """The saver asks whether a tmpfs gives 2 MiB pages only to mappings that ask (huge=advise)."""
    mounts = MOUNTS + "tmpfs /dev/shm tmpfs rw,nosuid,size=1024k,huge=advise 0 0\n"
    assert "huge=advise" in mount_options("/dev/shm/run/chunks", mounts)
    assert mount_options("/scratch/run", mounts) == ("rw", "size=100k")
    assert mount_options("/work", mounts) == ("rw", "relatime")
    assert mount_options("/work", "") == ()
