"""Ensembles: the members' accuracies beside the ensemble's, soft and majority votes, and
members that cannot be combined."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.evaluate import evaluate
from cnnlab.evaluate.ensemble import combine_probabilities
from cnnlab.train import load_model


def test_ensemble_reports_members_and_averages_their_probabilities(digit_runs, tmp_path):
    singles = [evaluate(run, out=tmp_path / run.name) for run in digit_runs]
    ens = evaluate(digit_runs, top_losses=4)
    # Issue 21 item 11: its own folder, not the first member's (which holds that member's evaluation)
    assert ens.out_dir == digit_runs[0].parent / "ensemble-seed0+seed1+seed2"
    assert not (digit_runs[0] / "evaluation-ensemble").exists()
    assert [m["name"] for m in ens.members] == ["seed0", "seed1", "seed2"]
    for member, single in zip(ens.members, singles):
        assert member["accuracy"] == pytest.approx(single.accuracy)
        assert member["loss"] == pytest.approx(single.loss, rel=1e-5)
    np.testing.assert_allclose(ens.probs, np.mean([s.probs for s in singles], axis=0), atol=1e-6)
    assert ens.accuracy == pytest.approx(np.mean(ens.probs.argmax(1) == ens.labels), abs=1e-6)
    # averaging three differently seeded models is no worse than its weakest member here
    assert ens.accuracy >= min(s.accuracy for s in singles)
    assert (ens.out_dir / "metrics.json").is_file()


def test_majority_vote_counts_votes_and_breaks_ties_by_mean_probability():
    a = np.array([[0.5, 0.4, 0.1], [0.9, 0.1, 0.0]])
    b = np.array([[0.5, 0.4, 0.1], [0.0, 0.4, 0.6]])
    c = np.array([[0.0, 0.1, 0.9], [0.0, 0.6, 0.4]])
    mean, soft = combine_probabilities([a, b, c], "soft")
    _, majority = combine_probabilities([a, b, c], "majority")
    # row 1: two votes for 0 beat the higher mean of 2; row 2: one vote each, 1 has the highest mean
    assert soft.tolist() == [2, 1] and majority.tolist() == [0, 1]
    np.testing.assert_allclose(mean, (a + b + c) / 3)
    with pytest.raises(ConfigError, match="vote"):
        combine_probabilities([a], "average")


def test_majority_vote_end_to_end_and_on_the_command_line(digit_runs, tmp_path):
    r = evaluate(digit_runs, vote="majority", out=tmp_path / "maj", top_losses=2)
    assert r.vote == "majority" and len(r.members) == 3
    assert np.trace(r.confusion) == np.sum(r.predictions == r.labels)
    out = CliRunner().invoke(app, ["evaluate", *map(str, digit_runs), "--out", str(tmp_path / "cli"),
                                   "--top-losses", "2"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "ensemble of 3" in out.output and "seed1" in out.output and "macro avg" in out.output


def test_members_with_other_classes_or_preprocessing_are_refused(digit_runs, tmp_path):
    a, b = load_model(digit_runs[0]), load_model(digit_runs[1])
    renamed = dataclasses.replace(b, class_names=[f"c{i}" for i in range(10)])
    with pytest.raises(CheckpointError, match="class names .* differ"):
        evaluate([a, renamed], out=tmp_path)
    pre = a.preprocessing
    other = dataclasses.replace(b, preprocessing=Preprocessing(pre.input_size, pre.channels, (0.5,), (0.5,)))
    with pytest.raises(CheckpointError, match="preprocessing .* differs"):
        evaluate([a, other], out=tmp_path)
