"""First position (index) where the accuracy reaches the target, not the step."""
import numpy as np

TARGET = "steps_to_reach"
EXPECT = "returned an index"


def steps_to_reach(acc_curve, steps, target):
    reached = np.flatnonzero(np.asarray(acc_curve) >= target)
    return int(reached[0]) if len(reached) else None
