"""User patterns with RE2: the joined search answers each name as a search of that name would,
and patterns that backtrack without end in Python's re end at once."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from mgstore import InputError
from mgstore.patterns import compile_linear, has_syntax, matching_names

PIECES = ["a", "b", "é", "/", ".", "^", "$", "*", "+", "?", "|", "(", ")", "[^/]", "[a-z]",
          r"\d", r"\w", r"\b", r"\n", "{1,2}", "(?:", "(?i)", r"\A", r"\z", " "]  # fmt: skip
patterns = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
names = st.lists(st.text(st.sampled_from("ab/é1 _\n"), max_size=8), max_size=12)


def one_by_one(pattern: str, texts: list[str]) -> list[int]:
    compiled = compile_linear(pattern, "p")
    return [i for i, text in enumerate(texts) if compiled.search(text)]


@settings(max_examples=400, deadline=None)
@given(pattern=patterns, texts=names)
def test_the_joined_search_equals_a_search_of_each_name(pattern: str, texts: list[str]) -> None:
    try:
        expected = one_by_one(pattern, texts)
    except InputError:
        with pytest.raises(InputError):
            matching_names(pattern, "p", texts)
        return
    assert matching_names(pattern, "p", texts) == expected


@pytest.mark.parametrize(
    ("pattern", "texts", "expected"),
    [
        ("^a", ["ba", "ab", "a"], [1, 2]),
        ("b$", ["ab", "ba", ""], [0]),
        ("", ["", "x"], [0, 1]),
        ("[^/]+$", ["a/", "/b", "/"], [1]),
        (r"\Aa", ["ba", "ab"], [1]),  # searched name by name
        ("a.b", ["a\nb", "axb"], [1]),  # a name with a newline: name by name
    ],
)
def test_anchors_and_classes_stay_within_a_name(
    pattern: str, texts: list[str], expected: list[int]
) -> None:
    assert matching_names(pattern, "p", texts) == expected


def test_catastrophic_patterns_end_with_the_right_answer() -> None:
    texts = ["a" * 35, "a" * 34 + "b", "a" * 5000]
    assert matching_names("(a+)+b", "name_regex", texts) == [1]
    assert matching_names("^(a|aa)+$", "name_regex", texts) == [0, 2]


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)", "(?<=a)b", "(", "\ud800"])
def test_what_re2_cannot_run_is_one_input_error(pattern: str) -> None:
    with pytest.raises(InputError, match="name_regex"):
        matching_names(pattern, "name_regex", ["a"])


def test_plain_scopes_have_no_syntax() -> None:
    assert not has_syntax("tower_1/dense.kernel-2>x")
    assert all(has_syntax(s) for s in ["a+", "(a)", "a|b", "[a]", "a\\.", "^a", "a$", "a{2}"])
