"""`cnnlab bench` runs the benchmark scripts, so they cannot rot; numbers are not checked here
(speed is measured by the benchmarks themselves, side by side, never asserted in tests)."""

import pytest

from cnnlab.cli import main


def test_unknown_benchmark_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "sped"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "bench_sped.py" in err and "speed" in err and "scratch" in err


def test_speed_benchmark_prints_its_table(mnist_root, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "speed", "--data-root", str(mnist_root), "--limit", "256", "--rows", "2,3,4"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "2 keras-mnist RMSprop b64" in out
    row = next(line for line in out.splitlines() if line.startswith("2 keras-mnist"))
    ratios = [float(tok.rstrip("×")) for tok in row.split() if tok.endswith("×")]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
    assert "MFU" in out


@pytest.mark.slow
def test_speed_benchmark_prints_the_start_up_row(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "speed", "--rows", "9"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for verb in ("--help", "version", "models"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"cnnlab {verb}"))
        assert float(line.split()[2]) > 0


def test_every_benchmark_the_docs_name_is_listed_by_bench_help(capsys):
    # Issue 21 item 14: the README named `cnnlab bench reliability` while `bench --help` did not list it.
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    named = set()
    for page in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        named |= set(re.findall(r"cnnlab bench ([a-z_]+)", page.read_text(encoding="utf-8")))
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    listed = set(re.findall(r"^\s*([a-z_]+): ", capsys.readouterr().out, re.M))
    assert named and named <= listed, f"named in the docs but not listed by bench --help: {named - listed}"
