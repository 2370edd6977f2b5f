import numpy as np
import pytest

from kl_lab.checks import assert_checks, check, format_table

KW = dict(claim="c", source="s", reason="r")


def test_kinds_pass_and_fail():
    assert check("a", kind="abs", predicted=1.0, measured=1.05, tolerance=0.1, **KW).passed
    assert not check("a", kind="abs", predicted=1.0, measured=1.2, tolerance=0.1, **KW).passed
    assert check("r", kind="rel", predicted=10.0, measured=10.5, tolerance=0.06, **KW).passed
    assert not check("r", kind="rel", predicted=10.0, measured=10.7, tolerance=0.06, **KW).passed
    assert check("z", kind="zscore", predicted=0.0, measured=0.3, stderr=0.1, tolerance=4, **KW).passed
    assert not check("z", kind="zscore", predicted=0.0, measured=0.5, stderr=0.1, tolerance=4, **KW).passed
    assert check("b", kind="bound", predicted=[1.0, 2.0], measured=[0.5, 2.0], tolerance=0.0, **KW).passed
    assert not check("b", kind="bound", predicted=[1.0, 2.0], measured=[0.5, 2.1], tolerance=0.0, **KW).passed
    assert check("lo", kind="bound", direction="lower", predicted=1.0, measured=1.5, tolerance=0, **KW).passed
    assert check("s", kind="slope", predicted=-0.5, measured=-0.52, tolerance=0.05, **KW).passed


def test_nan_never_passes_and_inf_bound():
    assert not check("n", kind="abs", predicted=1.0, measured=np.nan, tolerance=1.0, **KW).passed
    # inf <= inf holds at an entry, but a check made of such entries alone cannot fail: a failure
    assert check("i", kind="bound", predicted=[np.inf, 1.0], measured=[np.inf, 0.5], tolerance=0.0, **KW).passed
    assert not check("i", kind="bound", predicted=np.inf, measured=np.inf, tolerance=0.0, **KW).passed


def test_bad_construction_raises():
    with pytest.raises(ValueError, match="kind must be one of"):
        check("x", kind="approx", predicted=1, measured=1, tolerance=1, **KW)
    with pytest.raises(ValueError, match="needs stderr"):
        check("x", kind="zscore", predicted=1, measured=1, tolerance=1, **KW)
    with pytest.raises(ValueError, match="reason"):
        check("x", kind="abs", predicted=1, measured=1, tolerance=1, claim="c", source="s", reason="")


def test_table_and_assert():
    ok = check("good", kind="abs", predicted=1.0, measured=1.0, tolerance=0.1, **KW)
    bad = check("bad", kind="abs", predicted=1.0, measured=2.0, tolerance=0.1, **KW)
    table = format_table([("exp", ok), ("exp", bad)])
    assert "good" in table and "FAIL" in table and table.endswith("1 passed, 1 failed")
    assert_checks([ok])
    with pytest.raises(AssertionError, match="1 theory check"):
        assert_checks([ok, bad])


def test_resolution_is_the_smallest_failing_relative_change():
    from kl_lab.checks import resolution

    # |1.01 - p(1 + d)| > 0.05 first at d = +0.06 or d = -0.04: the smaller is 0.04
    assert abs(resolution("abs", 1.0, 1.01, 0.05) - 0.04) < 1e-4
    assert abs(resolution("zscore", 1.0, 1.0, 4.0, stderr=0.01) - 0.04) < 1e-4
    assert abs(resolution("bound", 1.0, 0.5, 0.0) - 0.5) < 1e-3  # the bound must drop by half to fail
    assert resolution("bound", float("inf"), 0.5, 0.0) == float("inf")  # an infinite bound cannot fail
    assert resolution("bound", [], [], 0.0) == float("inf")  # nothing tested: cannot fail
    # exact equality with zero tolerance fails at once, and the search terminates (regression: it looped)
    assert resolution("abs", 0.0, 0.0, 0.0) <= 1e-12
    assert resolution("bound", 1.0, 1.0, 0.0) <= 1e-12


def test_checks_vocabulary_reads_like_the_mathematics():
    from kl_lab.checks import Checks, derived, law, paper
    from kl_lab.experiment import Paper

    c = Checks(Paper("A. Author", 2024, "2401.00001v2", "Sec. 3"))
    c.upper_bound("ub", [0.1, 0.2], [0.2, 0.2], claim="x <= y", origin=law("Pinsker"))
    c.lower_bound("lb", 0.3, 0.2, claim="x >= y", origin=derived("module docstring"))
    c.close("eq", 2.0, 2.1, rtol=0.01, why="1 %", claim="x = y", origin=paper("Thm 3.1 (v2)"))
    c.within_se("mc", 0.0, 0.3, 0.1, claim="E X = 0", origin=paper("Eq. (4)"))
    assert [x.passed for x in c] == [True, True, False, True]
    assert [x.origin for x in c] == ["law", "derived", "paper", "paper"]
    assert c[2].source == "A. Author (2024), arXiv:2401.00001v2, Thm 3.1 (v2)"
    assert "family-wise false-alarm rate" in c[3].reason and c[3].tolerance > 3  # Bonferroni z at 1e-3
    with pytest.raises(ValueError, match="origin"):
        Checks(None).close("x", 1.0, 1.0, atol=0.1, why="w", claim="c")
    with pytest.raises(ValueError, match="exactly one of rtol and atol"):
        c.close("x", 1.0, 1.0, why="w", claim="c", origin=law("l"))
    with pytest.raises(ValueError, match="needs a reason"):
        c.upper_bound("x", 1.0, 1.0, slack=0.1, claim="c", origin=law("l"))


def test_alternatives_and_cannot_fail():
    from kl_lab.checks import Checks, law
    from kl_lab.experiment import Paper

    c = Checks(Paper("A", 2024, "x"))
    # measured slope -0.5 +- 0.05: tells -1/2 from -1/3 and -2/3
    assert c.slope(
        "s", -0.5, -0.52, tol=0.05, why="w", claim="c", origin=law("l"), alternatives=[-1 / 3, -2 / 3]
    ).passed
    # a band of 0.3 contains -1/3 too: the claim's distinction is not resolved
    wide = c.slope("w", -0.5, -0.52, tol=0.3, why="w", claim="c", origin=law("l"), alternatives=[-1 / 3, -2 / 3])
    assert not wide.passed and "cannot tell" in wide.reason
    # an infinite bound cannot fail: that is a failure, not a pass
    vacuous = c.upper_bound("v", 1.0, float("inf"), claim="c", origin=law("l"))
    assert not vacuous.passed and "cannot fail" in vacuous.reason
