"""The reliability matrix (issue 12): faults injected on purpose, bad input, untrusted files.

Each row of the matrix is a function that tries a number of cases and returns a `Row` with how
many behaved as documented. `cnnlab bench reliability` prints the table; the tests in
tests/reliability run every row with fewer cases.
"""

from cnnlab.reliability.matrix import Row, format_table, run_matrix

__all__ = ["Row", "format_table", "run_matrix"]
