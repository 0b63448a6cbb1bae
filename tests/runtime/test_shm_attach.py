"""Attaching a block maps its pages then, not during the first frames that pass through it.

Each process that maps a shared block takes a page fault the first time it touches each 4 KiB
page, even though the creator allocated them all: 0.12 s for a 480 MB volume ring on the
development VM, paid by the dispatcher and the saver in the first volumes of a run (it showed as
preview latency). ``attach_block`` asks the kernel to map every page at once.
"""

from __future__ import annotations

import resource

import numpy as np

from lightsheet.runtime.shm import attach_block, create_block, release_block

PAGE = 4096
PAGES = 4096  # 16 MiB


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _faults_touching_every_page(map_pages: bool) -> int:
    owner = create_block("tattach", "0", PAGES * PAGE)
    try:
        np.ndarray((PAGES * PAGE,), np.uint8, buffer=owner.buf).fill(1)  # the creator's pages
        attached = attach_block(owner.name, map_pages=map_pages)
        try:
            view = np.ndarray((PAGES, PAGE), np.uint8, buffer=attached.buf)
            before = _minor_faults()
            view[:, 0] = 2  # one write into every page, through the second mapping
            faults = _minor_faults() - before
            del view
        finally:
            release_block(attached, unlink=False)
    finally:
        release_block(owner, unlink=True)
    return faults


def test_touching_an_attached_block_takes_no_page_fault_per_page():
    faults = _faults_touching_every_page(map_pages=True)
    assert faults < PAGES // 10, f"{faults} page faults for {PAGES} pages"


def test_a_block_attached_to_touch_a_share_of_it_is_mapped_as_touched():
    """The processing pool's workers each touch only their items of a shared stack: mapping all
    of it in every worker made the processes backend slower (0.36 -> 0.49 s on 2 GB)."""
    faults = _faults_touching_every_page(map_pages=False)
    assert faults >= PAGES // 2, f"only {faults} page faults for {PAGES} pages"


def test_a_block_created_to_allocate_has_every_page_before_its_first_write():
    owner = create_block("tattach", "1", PAGES * PAGE, allocate=True)
    try:
        view = np.ndarray((PAGES, PAGE), np.uint8, buffer=owner.buf)
        before = _minor_faults()
        view[:, 0] = 2
        faults = _minor_faults() - before
        del view
    finally:
        release_block(owner, unlink=True)
    assert faults < PAGES // 10, f"{faults} page faults for {PAGES} pages"
