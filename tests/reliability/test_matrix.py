"""Every row of the reliability matrix, with fewer cases than `cnnlab bench reliability` tries.

A row passes when every case behaved as documented; on failure the message lists each case.
"""

import pytest

from reliability import matrix


def assert_row(row: matrix.Row, at_least: int) -> None:
    assert row.cases >= at_least, row
    assert row.ok, "\n".join(row.failures)


def test_interruptions_one_kill_per_point(tmp_path):
    assert_row(matrix.interruptions(tmp_path, n=3, seed=1), 3)


@pytest.mark.slow
def test_interruptions_twenty_random_kills(tmp_path):
    assert_row(matrix.interruptions(tmp_path, n=20, seed=0), 20)


def test_disk_faults_keep_previous_files(tmp_path):
    assert_row(matrix.disk_faults(tmp_path), 14)


def test_bad_images_and_fuzzing(tmp_path):
    assert_row(matrix.bad_images(tmp_path, fuzz_cases=300, seed=2), 10)


def test_bad_configs_exit_2_and_write_nothing(tmp_path):
    assert_row(matrix.bad_configs(tmp_path), 12)


def test_diverging_learning_rate_keeps_last_good_checkpoint(tmp_path):
    assert_row(matrix.numerics(tmp_path), 3)


def test_untrusted_files_run_nothing(tmp_path):
    assert_row(matrix.untrusted_files(tmp_path), 10)


def test_a_failing_case_is_reported_not_hidden():
    cases = matrix.Cases()
    cases.check("fine", lambda: None)
    cases.check("wrong", lambda: "it went wrong")
    cases.check("crash", lambda: 1 / 0)
    row = cases.row("demo", "{passed}/{tried}", 0.0)
    assert not row.ok and row.outcome == "1/3"
    assert any("ZeroDivisionError" in f for f in row.failures)
    assert "FAIL" in matrix.format_table([row])


def test_web_app_under_load_and_abuse(tmp_path):
    from reliability.webapp import webapp_abuse

    assert_row(webapp_abuse(tmp_path, requests=40, clients=8), 20)


def test_atomic_writes_get_the_usual_file_permissions(tmp_path):
    import os

    from cnnlab.atomic import atomic_write_text

    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_text(tmp_path / "report.html", "<html></html>")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600


# --- issue 19: the web app's rows (benchmarks/reliability/serve_hardening.py) ----------------------

def test_disclosure_and_injection_row(tmp_path):
    from reliability.serve_hardening import disclosure_injection

    assert_row(disclosure_injection(tmp_path), 20)


def test_slow_clients_row(tmp_path):
    from reliability.serve_hardening import slow_clients

    assert_row(slow_clients(tmp_path, connections=2000, crowd=3000), 7)


@pytest.mark.slow
def test_large_images_row(tmp_path):
    # tests/webapp/test_abuse.py runs its memory case in the default run; this adds the rest.
    from reliability.serve_hardening import large_images

    assert_row(large_images(tmp_path, mutated=200), 10)


def test_bombs_and_special_files_row(tmp_path):
    assert_row(matrix.bombs(tmp_path), 10)


def test_malformed_files_row_with_a_little_fuzzing(tmp_path):
    assert_row(matrix.malformed(tmp_path, examples=20), 50)


def test_fuzzed_configs_row(tmp_path):
    assert_row(matrix.fuzz_configs(tmp_path, examples=30), 30)


def test_wrong_results_row(tmp_path):
    assert_row(matrix.wrong(tmp_path), 7)
