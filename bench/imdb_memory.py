"""Peak memory and wall time of multi-hot vectorizing the IMDb training set, one fresh process per method.

The book's IMDb chapter (``book/06_imdb``) vectorizes the 25,000 training reviews over the 10,000 most
frequent words, first the textbook way (a dense float64 matrix, 2 GB), then as a CSR sparse matrix.
This script measures both (and, for reference, dense float32 and uint8, and float64 with NumPy's
huge pages turned off), each in its own subprocess so no
method inherits another's memory:

1. the child imports numpy and scipy, loads the data with
   ``dlcourse.datasets.load_imdb(num_words=10000)`` and runs ``gc``;
2. it reads its resident set size (``VmRSS``) and resets the RSS high-water mark (``VmHWM``) by writing
   ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), so loading does not count;
3. it vectorizes ``x_train`` and reads ``VmHWM`` again: the peak during vectorization.

Printed per method: the size of the result (``nbytes``, for CSR data + indices + indptr), the peak RSS
of the process, the peak increase over the RSS before vectorizing, and the wall time of the
vectorization. Run from the repository root with ``DLCOURSE_DATA`` set::

    .venv/bin/python bench/imdb_memory.py
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Imported before anything is measured, so that loading scipy is not counted as vectorizing.
from dlcourse.datasets import load_imdb
from dlcourse.text import multi_hot, multi_hot_csr

METHODS = {
    "textbook float64": "dense float64 (np.zeros, the textbook)",
    "textbook, 4K pages": "the same with NumPy's huge-page madvise turned off",
    "dense float32": "dense float32",
    "dense uint8": "dense uint8",
    "csr float32": "scipy.sparse CSR, float32 values, int32 indices",
}
NUM_WORDS = 10_000


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _vectorize(method: str, sequences: np.ndarray) -> int:
    """Vectorize with ``method`` and return the result's size in bytes."""
    if method == "csr float32":
        x = multi_hot_csr(sequences, NUM_WORDS, dtype=np.float32)
        return int(x.data.nbytes + x.indices.nbytes + x.indptr.nbytes)
    if method == "textbook, 4K pages":
        # NumPy asks Linux for 2 MiB transparent huge pages for large arrays (madvise); a huge page is
        # resident as soon as one byte in it is written. Turning that off shows the 4 KiB-page cost.
        from numpy._core.multiarray import _set_madvise_hugepage

        _set_madvise_hugepage(False)
        x = multi_hot(sequences, NUM_WORDS, dtype=np.float64)
        return int(x.nbytes)
    dtype = {"textbook float64": np.float64, "dense float32": np.float32, "dense uint8": np.uint8}[method]
    x = multi_hot(sequences, NUM_WORDS, dtype=dtype)
    return int(x.nbytes)


def child(method: str) -> dict[str, float | int | str]:
    """Measure one method in this (fresh) process; return the figures."""
    (x_train, _), _ = load_imdb(num_words=NUM_WORDS)
    gc.collect()
    rss_before = _proc_status_kib("VmRSS") * 1024
    _reset_peak_rss()
    start = time.perf_counter()
    nbytes = _vectorize(method, x_train)
    seconds = time.perf_counter() - start
    peak = _proc_status_kib("VmHWM") * 1024
    return {
        "method": method,
        "result_bytes": nbytes,
        "rss_before": rss_before,
        "peak_rss": peak,
        "peak_increase": peak - rss_before,
        "seconds": seconds,
    }


def main() -> None:
    """Run every method in a fresh subprocess and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return

    print(f"Multi-hot vectorization of the 25,000 IMDb training reviews, {NUM_WORDS} words")
    print(f"{'method':18s} {'result':>10s} {'peak RSS':>10s} {'peak - before':>14s} {'wall time':>10s}")
    for method in METHODS:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", method], capture_output=True, text=True, check=True
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{method:18s} {r['result_bytes'] / 1e6:8.1f}MB {r['peak_rss'] / 1e6:8.1f}MB "
            f"{r['peak_increase'] / 1e6:12.1f}MB {r['seconds']:9.2f}s"
        )
    print("MB = 10**6 bytes. peak RSS = VmHWM of a fresh process after the high-water mark was reset")
    print("once the data was loaded; 'peak - before' is the growth caused by vectorizing alone.")
    print("NumPy uses 2 MiB huge pages for large arrays when Linux allows it (madvise), so one written")
    print("byte makes 2 MiB resident; the '4K pages' row turns that off.")


if __name__ == "__main__":
    main()
