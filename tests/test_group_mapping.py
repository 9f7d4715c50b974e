"""The pure rule evaluation: every rule kind, the order rules are tried in, the fallback, the caps."""

from __future__ import annotations

import pytest
import re2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sp.tenancy import group_mapping as gm
from sp.tenancy.group_mapping import Rule, evaluate
from support.work import regex_work

DEFAULT, ADMINS, ENGINEERING, CONTRACTORS = 1, 2, 3, 4
RE2_REGEX = type(re2.compile("x"))  # what google-re2 compiles to: a linear-time automaton, never backtracking
ENTRA_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ADMINS_OBJECT_ID = "5f2c3a1e-8d4b-4c7a-9e2f-0b1d6a7c8e9f"


def rule(
    match: str, value: str, group: int = ADMINS, *, attribute: str | None = None, priority: int = 10, id: int = 1
) -> Rule:
    return Rule(id=id, priority=priority, attribute=attribute, match=match, value=value, group_id=group)


# (what it shows, the rule, the values of the role attribute 'groups', the group expected)
KINDS = [
    ("equals matches an equal value", rule("equals", "sp-admins"), ["sp-admins"], ADMINS),
    ("equals is case-sensitive", rule("equals", "sp-admins"), ["SP-Admins"], DEFAULT),
    ("equals does not match a longer value", rule("equals", "sp-admins"), ["sp-admins-old"], DEFAULT),
    ("iequals ignores case", rule("iequals", "SP-Admins"), ["sp-ADMINS"], ADMINS),
    ("iequals folds case fully", rule("iequals", "STRASSE"), ["straße"], ADMINS),
    ("iequals still wants the whole value", rule("iequals", "admins"), ["sp-admins"], DEFAULT),
    ("contains finds a substring", rule("contains", "CN=Admins,"), ["CN=Admins,OU=Groups,DC=corp"], ADMINS),
    ("contains is case-sensitive", rule("contains", "cn=admins,"), ["CN=Admins,OU=Groups,DC=corp"], DEFAULT),
    ("regex matches the whole value", rule("regex", "sp-.*"), ["sp-admins"], ADMINS),
    ("regex is anchored at the start", rule("regex", "sp-.*"), ["xsp-admins"], DEFAULT),
    ("regex is anchored at the end", rule("regex", "admins"), ["sp-admins"], DEFAULT),
    ("regex (?i) ignores case", rule("regex", "(?i)SP-(admins|owners)"), ["sp-Owners"], ADMINS),
    ("an Entra ID group object ID", rule("equals", ADMINS_OBJECT_ID), [ADMINS_OBJECT_ID], ADMINS),
    ("every value counts, not only the first", rule("equals", "sp-admins"), ["engineering", "sp-admins"], ADMINS),
    ("surrounding whitespace is ignored", rule("equals", "sp-admins"), ["  sp-admins\n"], ADMINS),
    ("non-ASCII values", rule("regex", "équipe-.+"), ["équipe-paris"], ADMINS),
]


@pytest.mark.parametrize("rule_,values,expected", [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_each_rule_kind(rule_, values, expected):
    decision = evaluate({"groups": values}, [rule_], ["groups"], DEFAULT)
    assert decision.group_id == expected
    assert (decision.rule is rule_) == (expected != DEFAULT)


FALLBACKS = [
    ("the role attribute is absent", {"email": ["a@acme.example"]}, gm.REASON_NO_ROLE_ATTRIBUTE),
    ("the role attribute has no values", {"groups": []}, gm.REASON_NO_ROLE_ATTRIBUTE),
    ("the role attribute's values are blank", {"groups": ["", "   "]}, gm.REASON_NO_ROLE_ATTRIBUTE),
    ("no rule matches", {"groups": ["marketing"]}, gm.REASON_NO_MATCH),
]


@pytest.mark.parametrize("attributes,reason", [f[1:] for f in FALLBACKS], ids=[f[0] for f in FALLBACKS])
def test_the_default_group_when_nothing_matches(attributes, reason):
    decision = evaluate(attributes, [rule("equals", "sp-admins")], ["groups"], DEFAULT)
    assert (decision.group_id, decision.rule, decision.reason) == (DEFAULT, None, reason)


def test_no_rules_means_the_default_group():
    decision = evaluate({"groups": ["sp-admins"]}, [], ["groups"], DEFAULT)
    assert (decision.group_id, decision.reason) == (DEFAULT, gm.REASON_NO_MATCH)


def test_the_lowest_priority_number_wins_whatever_the_order_rules_were_added_in():
    later_but_first = rule("equals", "engineering", ENGINEERING, priority=5, id=2)
    rules = [rule("equals", "sp-admins", ADMINS, priority=10, id=1), later_but_first]
    assert evaluate({"groups": ["sp-admins", "engineering"]}, rules, ["groups"], DEFAULT).rule is later_but_first


def test_on_a_priority_tie_the_older_rule_wins():
    older, newer = rule("equals", "engineering", ENGINEERING, id=3), rule("equals", "sp-admins", ADMINS, id=7)
    decision = evaluate({"groups": ["sp-admins", "engineering"]}, [newer, older], ["groups"], DEFAULT)
    assert decision.rule is older


def test_every_role_attribute_counts_and_the_decision_says_which_one_matched():
    rules = [rule("equals", ADMINS_OBJECT_ID)]
    decision = evaluate({ENTRA_GROUPS: [ADMINS_OBJECT_ID]}, rules, ["groups", ENTRA_GROUPS], DEFAULT)
    assert (decision.group_id, decision.matched_attribute, decision.matched_value) == (
        ADMINS,
        ENTRA_GROUPS,
        ADMINS_OBJECT_ID,
    )


def test_a_rule_on_a_named_attribute_reads_only_that_attribute():
    rules = [rule("equals", "IT", ENGINEERING, attribute="department")]
    assert evaluate({"department": ["IT"]}, rules, ["groups"], DEFAULT).group_id == ENGINEERING
    assert evaluate({"groups": ["IT"]}, rules, ["groups"], DEFAULT).group_id == DEFAULT


def test_a_role_attribute_rule_does_not_read_other_attributes():
    assert (
        evaluate({"department": ["sp-admins"]}, [rule("equals", "sp-admins")], ["groups"], DEFAULT).group_id == DEFAULT
    )


def test_without_a_configured_role_attribute_role_rules_match_nothing():
    decision = evaluate({"groups": ["sp-admins"]}, [rule("equals", "sp-admins")], [], DEFAULT)
    assert (decision.group_id, decision.reason) == (DEFAULT, gm.REASON_NO_ROLE_ATTRIBUTE)


def test_an_over_long_value_is_dropped_not_cut():
    # Cut to the cap, this value would equal the pattern; dropped, it matches nothing.
    pattern = "a" * gm.MAX_VALUE_CHARS
    decision = evaluate({"groups": [pattern + "-not-admins"]}, [rule("equals", pattern)], ["groups"], DEFAULT)
    assert (decision.group_id, decision.capped) == (DEFAULT, True)
    assert evaluate({"groups": [pattern]}, [rule("equals", pattern)], ["groups"], DEFAULT).group_id == ADMINS


def test_past_the_value_cap_the_same_values_are_kept_whatever_their_order():
    values = [f"g{i:04d}" for i in range(gm.MAX_VALUES + 50)]
    kept, capped = gm.usable_values(values)
    assert capped and len(kept) == gm.MAX_VALUES
    assert gm.usable_values(reversed(values)) == (kept, True)
    assert "g0000" in kept and f"g{gm.MAX_VALUES + 49:04d}" not in kept


@pytest.mark.parametrize(
    "match,pattern,why",
    [
        ("regex", "(sp-admins", r"missing \)"),
        ("regex", r"(a)\1", "invalid escape"),
        ("regex", "(?=admin).*", "invalid perl operator"),
        ("regex", "((a{100}){100}){100}", "repetition"),
        ("regex", "x" * (gm.MAX_PATTERN_CHARS + 1), "longer than"),
        ("equals", "", "empty"),
        ("startswith", "sp-", "unknown match kind"),
    ],
)
def test_patterns_that_cannot_run_safely_are_refused_when_saved(match, pattern, why):
    with pytest.raises(gm.PatternError, match=why):
        gm.check_pattern(match, pattern)


def test_a_regex_too_big_for_the_memory_budget_is_refused():
    with pytest.raises(gm.PatternError, match="too large"):
        gm.check_pattern("regex", ".{1000}" * 10)


def test_the_explanation_names_the_rule_or_what_was_missing():
    rules = [rule("equals", "sp-admins", id=3)]
    fired = evaluate({"groups": ["sp-admins"]}, rules, ["groups"], DEFAULT)
    assert gm.explain(fired) == "rule #3: @role equals sp-admins matched groups='sp-admins'"
    assert gm.explain(evaluate({}, rules, ["groups"], DEFAULT)) == "the IdP sent no value for groups"
    assert gm.explain(evaluate({"groups": ["x"]}, rules, ["groups"], DEFAULT)) == "no rule matched the values of groups"


# --- Invariants -------------------------------------------------------------------------

NAMES = ["groups", "memberOf", "Role", ENTRA_GROUPS, "department"]
VALUES = st.text(alphabet="abAB-_. é0", max_size=12)
rules_strategy = st.lists(
    st.builds(
        Rule,
        id=st.integers(1, 50),
        priority=st.integers(0, 5),
        attribute=st.sampled_from([None, *NAMES]),
        match=st.sampled_from(["equals", "iequals", "contains", "regex"]),
        value=st.sampled_from(["a", "ab", "A-b", "é", "a.*", "[ab]+", "(?i)ab-?.*", "b"]),
        group_id=st.integers(2, 5),
    ),
    max_size=8,
    unique_by=lambda r: r.id,  # ids are primary keys
)
attributes_strategy = st.dictionaries(st.sampled_from(NAMES), st.lists(VALUES, max_size=6), max_size=4)
role_strategy = st.lists(st.sampled_from(NAMES), max_size=3, unique=True)


@settings(max_examples=200, deadline=None, database=None)
@given(attributes=attributes_strategy, rules=rules_strategy, role=role_strategy, data=st.data())
def test_the_result_never_depends_on_the_order_of_attribute_values(attributes, rules, role, data):
    shuffled = {name: data.draw(st.permutations(values)) for name, values in attributes.items()}
    rules_shuffled = data.draw(st.permutations(rules))
    assert evaluate(shuffled, rules_shuffled, role, DEFAULT) == evaluate(attributes, rules, role, DEFAULT)


@settings(max_examples=200, deadline=None, database=None)
@given(attributes=attributes_strategy, rules=rules_strategy, role=role_strategy)
def test_without_any_attribute_the_rules_read_the_user_gets_the_default_group(attributes, rules, role):
    read = set(role) | {r.attribute for r in rules if r.attribute}
    others = {name: values for name, values in attributes.items() if name not in read}
    decision = evaluate(others, rules, role, DEFAULT)
    assert (decision.group_id, decision.rule, decision.reason) == (DEFAULT, None, gm.REASON_NO_ROLE_ATTRIBUTE)


# Shapes that send a backtracking engine exponential: nested and overlapping quantifiers.
EVIL = ["(a+)+", "(a|a)*", "(a|aa)+", "(.*a){12}", "(a*)*", "([ab]+)*", "(a?){30}a{30}", "(.*)*x"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=st.builds(
        lambda a, b, tail: a + b + tail,
        st.sampled_from(EVIL),
        st.sampled_from(["", *EVIL]),
        st.sampled_from(["", "b", "$", "x", "[^a]"]),
    ),
    value=st.builds(
        lambda n, tail: "a" * n + tail, st.integers(0, gm.MAX_VALUE_CHARS - 2), st.sampled_from(["", "!", "ab"])
    ),
)
def test_a_pattern_cannot_hang_the_login(pattern, value):
    # A pattern is either refused when saved, or compiled by RE2, which runs in time linear in the
    # value (no backtracking): the evaluation below then cannot go exponential, whatever its shape.
    try:
        gm.check_pattern("regex", pattern)
    except gm.PatternError:
        assume(False)
    assert isinstance(gm.compile_pattern(pattern), RE2_REGEX)
    rules = [rule("regex", pattern, id=i) for i in range(1, 11)]
    attributes = {"groups": [value] * 3 + [value + "x", value[:-1]]}
    candidates, _ = gm.usable_values(attributes["groups"])
    with regex_work() as work:
        evaluate(attributes, rules, ["groups"], DEFAULT)
    # Every match ran on RE2, each value at most once per rule, none longer than the cap.
    assert work.calls, "the rules were not matched on RE2"
    assert {matched for matched, _, _ in work.calls} == {pattern}
    assert len(work.calls) <= len(rules) * len(candidates)
    assert work.longest_text <= gm.MAX_VALUE_CHARS


def test_the_worst_case_a_tenant_can_configure_stays_bounded():
    # The most rules a tenant may have, every one an evil regex, against the most and longest values.
    from sp.tenancy.group_policy import MAX_RULES

    evil = "(a+)+b|(a|aa)*c|(.*a){20}x"
    rules = [rule("regex", evil, id=i) for i in range(MAX_RULES)]
    values = ["a" * (gm.MAX_VALUE_CHARS - 3) + f"{i:03d}" for i in range(gm.MAX_VALUES)]
    assert isinstance(gm.compile_pattern(evil), RE2_REGEX)
    with regex_work() as work:
        decision = evaluate({"groups": values}, rules, ["groups"], DEFAULT)
    assert decision.reason == gm.REASON_NO_MATCH
    # The work is counted, not timed: every match ran on RE2 (linear in the characters matched), each
    # value at most once per rule, none past the cap: at most 100 x 256 x 1024 characters in all.
    assert work.calls, "the rules were not matched on RE2"
    assert {pattern for pattern, _, _ in work.calls} == {evil}
    assert len(work.calls) <= MAX_RULES * gm.MAX_VALUES
    assert work.longest_text <= gm.MAX_VALUE_CHARS
    assert work.characters <= MAX_RULES * gm.MAX_VALUES * gm.MAX_VALUE_CHARS
