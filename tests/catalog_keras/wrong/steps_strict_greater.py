"""First step whose accuracy is strictly above the target (> instead of >=)."""
TARGET = "steps_to_reach"
EXPECT = "use >="


def steps_to_reach(acc_curve, steps, target):
    for acc, step in zip(acc_curve, steps):
        if acc > target:
            return step
    return None
