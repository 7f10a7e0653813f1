"""Lesson 1, error carried forward: x_hat builds on batch_mean and batch_var, y on x_hat. A value
that is right for the learner's own (wrong) earlier values passes, visibly and hidden; a value
that is wrong for them still fails, with the visible check's hint."""

import numpy as np
import pytest

import bn_checks
from bncourse.checks import CheckFailed, check_value

G = bn_checks.lesson1_inputs()
X, GAMMA, BETA, EPS = G["X"], G["gamma"], G["beta"], G["eps"]
MEAN = X.mean(axis=0)
VAR = ((X - MEAN) ** 2).mean(axis=0)
VAR_N1 = VAR * 4 / 3                       # a learner's wrong batch_var (N-1)
MEAN_SUM = X.sum(axis=0)                   # a learner's wrong batch_mean (the sum)


def xhat(mean, var, outside=False):
    return (X - mean) / ((np.sqrt(var) + EPS) if outside else np.sqrt(var + EPS))


def both(name, value, **uses):
    """(visible verdict, hidden verdict): None for a pass, else the failure message."""
    out = []
    for check in (check_value, bn_checks.check_lesson1_value):
        try:
            check(name, value, **uses)
            out.append(None)
        except AssertionError as e:
            if check is check_value:
                assert isinstance(e, CheckFailed)
            out.append(str(e))
    return out


@pytest.mark.parametrize("mean, var", [(MEAN, VAR_N1), (MEAN_SUM, VAR), (MEAN_SUM, VAR_N1)],
                         ids=["var_n1", "mean_sum", "both_wrong"])
def test_x_hat_right_for_wrong_statistics_passes(mean, var, capsys):
    assert both("x_hat", xhat(mean, var), batch_mean=mean, batch_var=var) == [None, None]
    assert "graded for this step only" in capsys.readouterr().out


@pytest.mark.parametrize("mean, var", [(MEAN, VAR), (MEAN, VAR_N1)], ids=["right_stats", "wrong_stats"])
def test_x_hat_wrong_for_its_statistics_fails(mean, var):
    visible, hidden = both("x_hat", xhat(mean, var, outside=True), batch_mean=mean, batch_var=var)
    assert visible and hidden
    if var is VAR:
        assert "epsilon is added to the standard deviation" in visible


def test_x_hat_is_not_carried_without_the_statistics():
    assert all(both("x_hat", xhat(MEAN, VAR_N1)))


def test_y_right_for_a_wrong_x_hat_passes_and_a_wrong_y_fails():
    wrong_x_hat = xhat(MEAN, VAR, outside=True)
    assert both("y", GAMMA * wrong_x_hat + BETA, x_hat=wrong_x_hat) == [None, None]
    assert all(both("y", BETA * wrong_x_hat + GAMMA, x_hat=wrong_x_hat))
    visible, hidden = both("y", BETA * xhat(MEAN, VAR) + GAMMA, x_hat=xhat(MEAN, VAR))
    assert "gamma and beta are swapped" in visible and hidden
