"""The LAST step whose accuracy reaches the target (the loop keeps going and overwrites the answer)."""
TARGET = "steps_to_reach"
EXPECT = "not the last"


def steps_to_reach(acc_curve, steps, target):
    found = None
    for acc, step in zip(acc_curve, steps):
        if acc >= target:
            found = step
    return found
