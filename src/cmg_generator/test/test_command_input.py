"""CommandInput: fresh commands pass, stale ones become zero, non-finite ones are rejected."""

import math

from cmg_generator.command_input import CommandInput, CommandInputConfig


def test_fresh_then_timeout_to_zero():
    ci = CommandInput(CommandInputConfig(timeout=0.5))
    assert ci.current(0.0) == (0.0, 0.0, 0.0) and ci.is_stale(0.0)
    assert ci.submit(0.8, 0.1, -0.2, now=1.0) is None
    assert ci.current(1.4) == (0.8, 0.1, -0.2)
    assert ci.current(1.6) == (0.0, 0.0, 0.0)  # teleop went silent: stand


def test_non_finite_rejected_and_last_good_kept_ageing():
    ci = CommandInput()
    ci.submit(0.5, 0.0, 0.0, now=0.0)
    for bad in ((math.nan, 0.0, 0.0), (0.0, math.inf, 0.0), (0.0, 0.0, -math.inf)):
        assert "non-finite" in ci.submit(*bad, now=0.1)
    assert ci.rejected == 3
    assert ci.current(0.2) == (0.5, 0.0, 0.0)
    assert ci.current(0.6) == (0.0, 0.0, 0.0)  # NaNs did not refresh the stamp
