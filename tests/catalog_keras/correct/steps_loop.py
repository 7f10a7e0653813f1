"""A plain loop over (accuracy, step) pairs."""
TARGET = "steps_to_reach"


def steps_to_reach(acc_curve, steps, target):
    for acc, step in zip(acc_curve, steps):
        if acc >= target:
            return step
    return None
