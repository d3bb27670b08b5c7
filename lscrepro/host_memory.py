"""The C allocator's policy for a job's host memory: freed tensors stay in the process.

glibc's malloc serves a block above its mmap threshold (128 KiB, rising with use to 32 MiB)
with a fresh ``mmap`` and hands it back to the kernel at ``free``; its heap also gives its
free top back once that exceeds the trim threshold. A training step that allocates a
sequence-long tensor (tens to hundreds of MB) every step then pays the kernel's page
faults for all of it every step: the first write to each fresh 4 KiB page. With mmap off
and the trim threshold at its largest, a freed block stays in the heap and later steps
reuse warm pages: on this VM sl-MNIST's 128-wide simple RNN step took 0.61 CPU s instead of
0.67-0.70, and PTB's depth-5 LSTM 2.1-2.2 instead of 2.3-2.4 (docs/benchmarks.md). The price
is resident memory: the heap keeps its free blocks and fragments, so a job's peak grows by
a third to a half (sl-MNIST 1.17 -> 1.56 GB, level from the 40th of 80 steps; PTB LSTM
0.93 -> 1.40 GB); ``benchmarks/grid_cost.py`` measures peaks with the policy on, as the
jobs run. It changes no number the step computes.

The policy holds for the main arena, the heap of the main thread. Every other thread gets
an arena of its own, made of sub-heaps of at most 64 MiB, and glibc serves a larger block
there from a fresh ``mmap`` whatever the policy says. A process forked from such a thread
keeps its arena: ``multiprocessing.Pool(maxtasksperchild=1)`` forks every worker after the
first from its handler thread, and the profilers' workers (``lscrepro.cost``) then paid
218,000-231,000 page faults a step (Heidelberg ALIF depth 2: 1.86-2.14 CPU s against
1.42-1.44 in the first worker). One arena for the whole process puts every thread, and
every process forked from one, on the main heap the policy keeps; call it before the
process starts any thread: a thread that has exited leaves its arena to the next thread,
whatever the limit (grid_cost's workers, after the pool that measured the GEMM rate: a step
of sl-MNIST's LSTM 1.23 s against 0.63).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
_INT_MAX = 2 ** 31 - 1


def keep_freed_memory() -> bool:
    """Tell glibc's malloc never to ``mmap`` a block, never to trim its heap, and to serve
    every thread from the main heap, for this process and the processes it forks. Returns
    whether the policy is in force: False on a C library without glibc's ``mallopt``
    (macOS, musl), where nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; all three settings, or the policy is not what the
    # docstring says
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, _INT_MAX), (M_ARENA_MAX, 1))
    return all([mallopt(parameter, value) == 1 for parameter, value in settings])
