"""Evidence and verdicts: the claim layer passes real effects, refuses placebos, and says why."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnclaims import backend
from bnclaims.data import load_dataset
from bnclaims.evidence import Arm, Claim, ClaimNotSupported, assert_supported, evaluate, measured
from bnclaims.spec import RunSpec

SEEDS = (0, 1, 2, 3, 4)


def claim(**changes) -> Claim:
    fields = dict(id="X1", statement="A beats B", source="test", metric="accuracy", test="superiority",
                  threshold=0.01, threshold_reason="for the test")
    return Claim(**{**fields, **changes})


def arms(a, b) -> tuple[Arm, Arm]:
    return Arm("A", tuple(a)), Arm("B", tuple(b))


def noisy(mean, seed, sd=0.005):
    return np.random.default_rng(seed).normal(mean, sd, len(SEEDS))


def test_injected_effect_is_supported_and_placebo_is_not():
    base = noisy(0.90, 1)
    effect = evaluate(claim(), "effect", *arms(base + 0.05 + noisy(0, 2), base), seeds=SEEDS)
    placebo = evaluate(claim(threshold=0.0), "placebo", *arms(noisy(0.90, 3), noisy(0.90, 4)), seeds=SEEDS)
    assert effect.supported and effect.p_value < 0.05
    assert not placebo.supported


def test_effect_below_the_threshold_is_not_supported():
    base = noisy(0.90, 1)
    evidence = evaluate(claim(threshold=0.05), "small", *arms(base + 0.02, base + noisy(0, 5, 0.001)), seeds=SEEDS)
    assert 0.015 < evidence.effect < 0.025
    assert not evidence.supported


def test_bonferroni_level_is_used_for_the_verdict():
    # p lies between alpha/4 and alpha: supported alone, not supported in a family of four.
    d = np.array([0.010, 0.030, 0.002, 0.025, 0.004])
    alone = evaluate(claim(threshold=0.0), "c", *arms(d, np.zeros(5)), seeds=SEEDS)
    assert 0.0125 < alone.p_value < 0.05
    family = evaluate(claim(threshold=0.0, family_size=4), "c", *arms(d, np.zeros(5)), seeds=SEEDS)
    assert alone.supported and not family.supported
    assert family.corrected_alpha == pytest.approx(0.0125)


def test_equivalence_and_non_inferiority():
    base = noisy(0.90, 1)
    same = evaluate(claim(test="equivalence", threshold=0.02), "eq", *arms(base + noisy(0, 7, 0.002), base), seeds=SEEDS)
    shifted = evaluate(claim(test="equivalence", threshold=0.02), "eq", *arms(base + 0.05, base), seeds=SEEDS)
    assert same.supported and not shifted.supported
    slightly_worse = evaluate(claim(test="non_inferiority", threshold=0.02), "ni",
                              *arms(base - 0.005 + noisy(0, 8, 0.002), base), seeds=SEEDS)
    much_worse = evaluate(claim(test="non_inferiority", threshold=0.02), "ni", *arms(base - 0.05, base), seeds=SEEDS)
    assert slightly_worse.supported and not much_worse.supported


def test_failure_message_has_the_fixed_shape():
    evidence = evaluate(claim(), "shape", *arms(noisy(0.90, 3), noisy(0.90, 4)), seeds=SEEDS,
                        rerun="pytest claims/x.py::t")
    with pytest.raises(ClaimNotSupported) as raised:
        assert_supported(evidence)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("claim X1 [shape]: 'A beats B'")
    assert lines[1].startswith("  expected: mean paired difference in accuracy (A - B) > +0.0100")
    for fragment in ("observed: effect", "95% CI [", "P(A>B)", "p=", "n=5 seeds"):
        assert fragment in lines[2]
    assert lines[3].startswith("  arms: A mean") and "B mean" in lines[3]
    assert lines[-2] == "  verdict: not supported"
    assert lines[-1] == "  rerun: pytest claims/x.py::t"


def test_evidence_serialises_every_field():
    evidence = evaluate(claim(), "json", *arms(noisy(0.95, 3), noisy(0.90, 4)), seeds=SEEDS)
    record = json.loads(evidence.to_json())
    for name in ("claim_id", "statement", "metric", "arm_a", "arm_b", "effect", "effect_ci", "p_value",
                 "corrected_alpha", "threshold", "threshold_reason", "n", "verdict", "seeds",
                 "probability_of_improvement", "probability_of_improvement_ci", "sign_test_p"):
        assert name in record
    assert record["arm_a"]["values"] == list(evidence.arm_a.values)


def test_bootstrap_interval_is_reproducible():
    data = arms(noisy(0.95, 3), noisy(0.90, 4))
    assert evaluate(claim(), "r", *data, seeds=SEEDS).effect_ci == evaluate(claim(), "r", *data, seeds=SEEDS).effect_ci


@pytest.mark.parametrize("bad", [dict(test="bigger"), dict(test="equivalence", threshold=0.0),
                                 dict(alpha=1.5), dict(family_size=0)])
def test_malformed_claims_are_rejected(bad):
    with pytest.raises(ValueError):
        claim(**bad)


def test_seed_count_must_match_the_values():
    with pytest.raises(ValueError, match="seeds"):
        evaluate(claim(), "n", *arms([0.9, 0.8], [0.7, 0.6]), seeds=(0, 1, 2))


@pytest.mark.slow
def test_real_placebo_is_never_supported():
    """One real placebo: the same arm trained under different seeds, compared with itself."""
    backend.load(threads=1)
    from bnclaims.training import train

    spec = RunSpec(dataset="digits", hidden=(32, 16), epochs=2, batch_size=64, learning_rate=0.05)
    dataset = load_dataset("digits")
    first = [train(spec.replace(seed=s), dataset).test_accuracy for s in range(5)]
    second = [train(spec.replace(seed=s), dataset).test_accuracy for s in range(5, 10)]
    for a, b in ((first, second), (second, first)):
        evidence = evaluate(claim(threshold=0.0), "placebo", *arms(a, b), seeds=SEEDS)
        assert not evidence.supported, evidence.message()


def test_measured_claims_state_their_criterion_and_observation():
    slope_claim = claim(id="R9", test="measured", metric="log-log slope", threshold=-1.0,
                        criterion="95% CI of the slope contains -1 and excludes 0")
    evidence = measured(slope_claim, "layer1", effect=-0.98, ci=(-1.05, -0.91), passed=True, n=8,
                        test_name="OLS slope, t interval", observed="8 batch sizes", details={"layers": 3})
    assert evidence.supported and evidence.kind == "measured"
    assert json.loads(evidence.to_json())["details"] == {"layers": 3}
    failed = measured(slope_claim, "layer2", effect=-0.2, ci=(-0.5, 0.1), passed=False, n=8,
                      test_name="OLS slope, t interval")
    with pytest.raises(ClaimNotSupported) as raised:
        assert_supported(failed)
    lines = str(raised.value).splitlines()
    assert lines[1] == "  expected: 95% CI of the slope contains -1 and excludes 0"
    assert lines[2].startswith("  observed: log-log slope -0.2, interval [-0.5, +0.1] (OLS slope, t interval)")
    with pytest.raises(ValueError, match="criterion"):
        claim(test="measured")
    with pytest.raises(ValueError, match="measured"):
        evaluate(slope_claim, "x", *arms([1, 2], [0, 1]), seeds=(0, 1))


@pytest.mark.slow
def test_a_deliberately_wrong_claim_fails_on_real_runs(tmp_path):
    """'BN lowers accuracy by 5 points' on real paired runs: refuted, with the full message."""
    from bnclaims.evidence import arm_from_runs
    from bnclaims.lab import Lab
    from bnclaims.metrics import test_accuracy
    from bnclaims.settings import Settings

    lab = Lab(Settings.resolve(dataset="digits", seeds="3", cache_dir=str(tmp_path), root=tmp_path),
              say=lambda line: None)
    spec = lab.base_spec(hidden=(32, 16), epochs=3, batch_size=64, learning_rate=0.05)
    with_bn, plain = lab.across_seeds(spec), lab.across_seeds(spec.replace(batch_norm="none"))
    wrong = claim(id="WRONG", statement="BN lowers accuracy by 5 points", threshold=0.05)
    evidence = evaluate(wrong, "plain_beats_bn", arm_from_runs("plain", plain, test_accuracy),
                        arm_from_runs("BN", with_bn, test_accuracy), seeds=(0, 1, 2), rerun="pytest ...")
    with pytest.raises(ClaimNotSupported, match=r"(?s)expected: mean paired difference .* > \+0\.0500.*"
                                                r"observed: effect .*95% CI.*n=3 seeds.*verdict: not supported"):
        assert_supported(evidence)
