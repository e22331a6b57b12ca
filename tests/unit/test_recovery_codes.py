"""Recovery codes: ten easy-to-type codes of 60 bits, checked with one KDF computation."""

from __future__ import annotations

import math

import pytest

from ledger import recovery_codes
from ledger.recovery_codes import find_match, generate_set, is_well_formed, normalise


def test_a_set_has_ten_distinct_codes_in_groups_of_four() -> None:
    codes = generate_set().codes
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert all(ch in recovery_codes.ALPHABET for ch in "".join(groups))


def test_each_code_carries_at_least_50_bits_of_entropy() -> None:
    symbols = recovery_codes.GROUPS * recovery_codes.GROUP_LENGTH
    assert symbols * math.log2(len(recovery_codes.ALPHABET)) >= 50


def test_only_salted_hashes_are_kept_and_each_code_finds_its_own() -> None:
    code_set = generate_set()
    assert all(code.replace("-", "") not in "".join(code_set.hashes) for code in code_set.codes)
    for code, stored in zip(code_set.codes, code_set.hashes, strict=True):
        assert find_match(code, code_set.salt, code_set.hashes) == stored


def test_the_same_code_hashes_differently_in_another_set() -> None:
    one, other = generate_set(), generate_set()
    assert recovery_codes.kdf(one.codes[0], one.salt) != recovery_codes.kdf(
        one.codes[0], other.salt
    )


@pytest.mark.parametrize(
    "typed", ["ABCD-EFGH-JKMN", "abcd efgh jkmn", "abcdefghjkmn", " abcd-efgh-jkmn "]
)
def test_case_spaces_and_dashes_do_not_matter(typed: str) -> None:
    assert normalise(typed) == "abcdefghjkmn"


def test_look_alike_letters_read_as_digits() -> None:
    assert normalise("OIL0-1111-2222") == "011011112222"


@pytest.mark.parametrize("typed", ["", "abcd-efgh", "abcd-efgh-jkmn-pqrs", "abcd-efgh-jkm!"])
def test_malformed_codes_are_recognised(typed: str) -> None:
    assert not is_well_formed(typed)


def test_a_wrong_code_matches_nothing() -> None:
    code_set = generate_set()
    assert find_match("0000-0000-0000", code_set.salt, code_set.hashes) is None
