"""steps_to_reach as a lambda over a generator expression."""
TARGET = "steps_to_reach"

steps_to_reach = lambda acc_curve, steps, target: next(  # noqa: E731
    (step for acc, step in zip(acc_curve, steps) if acc >= target), None)
