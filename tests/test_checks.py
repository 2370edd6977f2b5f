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
    assert check("i", kind="bound", predicted=np.inf, measured=np.inf, tolerance=0.0, **KW).passed


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
