"""The reliability matrix (issue 12): faults injected on purpose, bad input, untrusted files.

Each row of the matrix is a function that tries a number of cases and returns a `Row` with how
many behaved as documented. `cnnlab bench reliability` prints the table; the tests in
tests/reliability run every row with fewer cases.

It lives beside the benchmarks, not in the cnnlab package: it patches `os.replace`, uses
`unittest.mock` and kills processes on purpose, none of which belongs in the product. Import it
with benchmarks/ on the path (`bench_reliability.py` and the tests' pytest settings put it there).
"""

from reliability.matrix import Row, format_table, run_matrix

__all__ = ["Row", "format_table", "run_matrix"]
