"""snn.validation: one message style for every value of a study file, in snn and in the search service:
the dotted key, what it must be, the value it got and, where there is one, the fix; always a UserError."""

import pytest

from snn import validation as v
from snn.errors import UserError


@pytest.mark.parametrize("check, message", [
    (lambda: v.number("1", "a.b"), "a.b must be a number, got '1' (str)"),
    (lambda: v.number(True, "a.b"), "a.b must be a number, got True (bool)"),
    (lambda: v.number(float("nan"), "a.b"), "a.b must be finite, got nan"),
    (lambda: v.number(0, "a.b", min=0, min_open=True, fix="use 1"), "a.b must be > 0, got 0.0; use 1"),
    (lambda: v.number(1.0, "a.b", max=1, max_open=True), "a.b must be < 1, got 1.0"),
    (lambda: v.integer(2.0, "a.b"), "a.b must be an integer, got 2.0 (float)"),
    (lambda: v.integer(5, "a.b", max=4), "a.b must be <= 4, got 5"),
    (lambda: v.string(3, "a.b"), "a.b must be a string, got 3 (int)"),
    (lambda: v.boolean("yes", "a.b"), "a.b must be true or false, got 'yes' (str)"),
    (lambda: v.table([1], "a.b"), "a.b must be a table, got [1] (list)"),
    (lambda: v.sequence("ab", "a.b"), "a.b must be an array, got 'ab' (str)"),
    (lambda: v.sequence([1, 2], "a.b", length=1), "a.b must have 1 entry, got 2: [1, 2]"),
    (lambda: v.sequence([], "a.b", min_length=2), "a.b must have at least 2 entries, got 0: []"),
    (lambda: v.check_keys({"x": 1, "y": 2}, ["z"], "a"), "unknown keys a.x, a.y; known keys in a: z"),
])
def test_every_check_says_key_requirement_value_and_fix(check, message):
    with pytest.raises(UserError) as error:
        check()
    assert str(error.value) == message


def test_a_typo_gets_a_suggestion_only_when_one_option_is_clearly_closest():
    with pytest.raises(UserError, match=r"^a\.mode must be one of 'max', 'min', got 'mxa'; did you mean 'max'\?$"):
        v.string("mxa", "a.mode", choices=("max", "min"))
    with pytest.raises(UserError, match=r"got 'L_X'$"):  # as near L_W as L_A: no guess
        v.string("L_X", "a.loss", choices=("L_W", "L", "L_A"))
    with pytest.raises(UserError, match=r"; did you mean a\.patience\?$"):
        v.check_keys({"patiense": 1}, ["enabled", "patience"], "a")
    with pytest.raises(UserError, match=r"known keys in a: enabled, patience$"):
        v.check_keys({"zzz": 1}, ["enabled", "patience"], "a")


def test_valid_values_come_back_normalised():
    assert v.number(0, "a") == 0.0 and isinstance(v.number(0, "a"), float)
    assert v.integer(3, "a", min=3) == 3 and v.string("max", "a", choices=("max",)) == "max"


def test_quoted_dotted_names_and_nested_tables_flatten_to_the_same_keys():
    nested = {"loss": {"alpha": 1e-3}, "schedule": {"phase1": {"lr": 0.1}}, "seed": 2}
    quoted = {"loss.alpha": 1e-3, "schedule.phase1": {"lr": 0.1}, "seed": 2}
    assert v.flatten(nested) == v.flatten(quoted) == {"loss.alpha": 1e-3, "schedule.phase1.lr": 0.1, "seed": 2}
    assert v.flatten(nested, "train") == {"train.loss.alpha": 1e-3, "train.schedule.phase1.lr": 0.1, "train.seed": 2}
