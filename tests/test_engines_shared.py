"""The one rule for "diverged" that both engines' results go through (bnclaims.engines.shared)."""

from __future__ import annotations

import math

import pytest

from bnclaims.engines.shared import is_diverged

FINITE = [2.3, 1.1, 0.7]


def test_a_run_that_trained_every_epoch_with_finite_losses_did_not_diverge():
    assert not is_diverged(None, FINITE, epochs_completed=3, epochs=3, test_loss=0.5)


@pytest.mark.parametrize("why, arguments", [
    ("a step's loss was not finite", dict(diverged_step=17, train_loss=FINITE, epochs_completed=3, test_loss=0.5)),
    ("an epoch's mean loss overflowed", dict(diverged_step=None, train_loss=[2.3, math.inf, 0.7], epochs_completed=3,
                                             test_loss=0.5)),
    ("training stopped early", dict(diverged_step=None, train_loss=FINITE[:2] + [math.nan], epochs_completed=2,
                                    test_loss=0.5)),
    ("the test loss is not finite", dict(diverged_step=None, train_loss=FINITE, epochs_completed=3, test_loss=math.nan)),
])
def test_each_sign_of_divergence_alone_marks_the_run(why, arguments):
    assert is_diverged(epochs=3, **arguments), why


def test_the_nan_padding_after_a_stop_is_not_read_as_a_second_sign():
    # Epochs after the stop are NaN by design (both engines pad the history); only completed ones count.
    assert not is_diverged(None, FINITE + [math.nan], epochs_completed=3, epochs=3, test_loss=0.5)
