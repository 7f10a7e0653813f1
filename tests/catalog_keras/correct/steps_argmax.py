"""First step reached via np.argmax on a boolean array, with an explicit any() for 'never'."""
import numpy as np

TARGET = "steps_to_reach"


def steps_to_reach(acc_curve, steps, target):
    reached = np.asarray(acc_curve) >= target
    if not reached.any():
        return None
    return np.asarray(steps)[np.argmax(reached)]
