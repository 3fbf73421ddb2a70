"""message.roundtrip's wait: a duplicate does not end it before the last text arrives."""

from __future__ import annotations

from collections import Counter

from scenarios.conformance.messages import _accounted

SENT = Counter(["a", "b", "c"])


def test_right_texts_count_once_each():
    assert _accounted(Counter(["a", "b"]), SENT) == 2
    assert _accounted(Counter(["a", "b", "c"]), SENT) == 3


def test_a_duplicate_answers_nothing():
    # the CI flake: 10 texts + a duplicate of the 10th + 2 more made 13 before the 13th came
    assert _accounted(Counter(["a", "a", "b"]), SENT) == 2


def test_an_altered_text_answers_a_slot_so_the_case_fails_without_waiting():
    assert _accounted(Counter(["a", "b", "C"]), SENT) == 3
