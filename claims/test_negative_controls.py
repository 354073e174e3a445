"""Negative controls: the suite's false-positive behaviour on real runs, not only in simulation.

Two placebo comparisons at the talk's base setting (batch 128, lr 0.01, the profile's budget):
- PLACEBO.bn_vs_bn: BN against BN, the second arm trained on seeds 1000 + s for the first arm's seed s;
- PLACEBO.plain_vs_plain: the same without BN.
The arms differ in nothing but their seeds (initialization, data order and, on mnist5k, the split), so the
truth is "no difference" and the expected outcome is inconclusive. Each is tested as any accuracy
comparison is (superiority at threshold 0, the exact sign test, the sequential design, a family of two),
so a supported or refuted control is a false positive of exactly the machinery the claims use: by chance
no more often than its level, more often if seeds are not independent or the cache serves a wrong run.
The summary and the report list such a control first; --claims-strict fails it.
"""

from __future__ import annotations

from bnclaims import metrics
from bnclaims.catalogue import Claim, declare
from bnclaims.evidence import Arm, arm_from_runs

# The second arm's seeds: far from any seed a profile or the sequential design uses.
PLACEBO_SEED_OFFSET = 1000
ARMS = {"PLACEBO.bn_vs_bn": ("BN", "before"), "PLACEBO.plain_vs_plain": ("plain", "none")}

CHECKS = declare({"test_placebo": {
    check_id: Claim(
        statement=f"placebo: {name} against {name} on disjoint seeds reaches the same test accuracy (expected: "
                  f"inconclusive)", source="negative control", metric="test accuracy", test="superiority",
        threshold=0.0, threshold_reason="no threshold: the arms differ only in their seeds, so any outcome but "
                                        "inconclusive is a false positive", tier="control", family="placebo")
    for check_id, (name, _) in ARMS.items()
}})


def test_placebo(check, lab, verify):
    name, batch_norm = ARMS[check]
    spec = lab.base_spec(batch_norm=batch_norm)
    first = lab.across_seeds(spec, context=f"placebo {name}")
    second = lab.runs([spec.replace(seed=PLACEBO_SEED_OFFSET + seed) for seed in lab.seeds],
                      context=f"placebo {name} (seeds {PLACEBO_SEED_OFFSET}+)")
    shadow = arm_from_runs(f"{name} (seeds {PLACEBO_SEED_OFFSET}+)", second, metrics.test_accuracy)
    # Paired by position: the second arm's seed 1000 + s stands beside the first arm's seed s.
    paired = Arm(shadow.name, shadow.values, tuple(run.spec.seed for run in first), shadow.run_keys, shadow.outcomes)
    verify(check, arm_from_runs(name, first, metrics.test_accuracy), paired)
