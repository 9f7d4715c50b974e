"""Which group the directory's attributes pick: pure evaluation of a tenant's mapping rules.

No Flask, no database: attributes, rules and the tenant's role attribute names go in, a Decision
comes out. Patterns come from tenant admins and values from IdPs, so neither is trusted: regexes
run on RE2 (linear time, no backreferences or lookaround), and values are capped before matching.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import re2

MATCH_KINDS = ("equals", "iequals", "contains", "regex")
# A rule whose attribute is None reads the tenant's role attribute(s); the CLI spells it so.
ROLE = "@role"
MAX_VALUE_CHARS = 1024
MAX_VALUES = 256
MAX_PATTERN_CHARS = 512
# RE2 refuses to compile a pattern whose program would need more memory than this.
MAX_REGEX_MEMORY = 1 << 20

REASON_RULE = "rule"
REASON_NO_ROLE_ATTRIBUTE = "no_role_attribute"
REASON_NO_MATCH = "no_match"


class PatternError(ValueError):
    """A pattern we refuse to store: its message is one line for the admin."""


@dataclass(frozen=True)
class Rule:
    """One mapping rule; `id` grows with creation, so it breaks priority ties (older first)."""

    id: int
    priority: int
    attribute: str | None
    match: str
    value: str
    group_id: int

    def describe(self) -> str:
        """The rule in a few words, e.g. "rule #3: groups equals sp-admins"."""
        return f"rule #{self.id}: {self.attribute or ROLE} {self.match} {self.value}"


@dataclass(frozen=True)
class Decision:
    """The group the attributes pick, the rule that fired (None: the default group) and why."""

    group_id: int
    rule: Rule | None
    reason: str
    matched_attribute: str | None = None
    matched_value: str | None = None
    # Names whose values were read, and whether some values were dropped by the caps.
    consulted: tuple[str, ...] = ()
    capped: bool = False


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a bad admin pattern is a refusal, not a line on stderr
    options.max_mem = MAX_REGEX_MEMORY
    options.never_capture = True
    return options


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re2._Regexp:
    """Compile pattern with RE2, or raise PatternError saying why in one line."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        detail = error.args[0] if error.args else "invalid"
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise PatternError(f"not a valid RE2 regular expression ({detail})") from None


def check_pattern(match: str, pattern: str) -> None:
    """Refuse a rule pattern that could never be evaluated safely; PatternError says why."""
    if match not in MATCH_KINDS:
        raise PatternError(f"unknown match kind {match!r}; use one of {', '.join(MATCH_KINDS)}")
    if not pattern:
        raise PatternError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    if match == "regex":
        compile_pattern(pattern)


def usable_values(values: Iterable[str]) -> tuple[frozenset[str], bool]:
    """The values worth matching: stripped, non-empty, capped in length and number; (values, capped).

    Over-long values are dropped, not cut: a cut value could equal a pattern the whole one does
    not. Past MAX_VALUES we keep the smallest in sorted order, so the order the IdP sent them in
    never changes the result.
    """
    kept = {v.strip() for v in values if isinstance(v, str)}
    kept.discard("")
    capped = False
    if any(len(v) > MAX_VALUE_CHARS for v in kept):
        kept = {v for v in kept if len(v) <= MAX_VALUE_CHARS}
        capped = True
    if len(kept) > MAX_VALUES:
        kept = set(sorted(kept)[:MAX_VALUES])
        capped = True
    return frozenset(kept), capped


def _matching(rule: Rule, values: frozenset[str]) -> list[str]:
    if rule.match == "equals":
        return [rule.value] if rule.value in values else []
    if rule.match == "iequals":
        wanted = rule.value.casefold()
        return [v for v in values if v.casefold() == wanted]
    if rule.match == "contains":
        return [v for v in values if rule.value in v]
    try:
        pattern = compile_pattern(rule.value)
    except PatternError:
        return []  # validated when saved; a pattern that no longer compiles matches nothing
    return [v for v in values if pattern.fullmatch(v) is not None]


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in the order they are tried: lowest priority number first, then the older rule."""
    return sorted(rules, key=lambda r: (r.priority, r.id))


def evaluate(
    attributes: Mapping[str, Sequence[str]],
    rules: Iterable[Rule],
    role_attributes: Sequence[str],
    default_group_id: int,
) -> Decision:
    """Pick the group: the first rule (in order) matching any value wins, else the default group."""
    rules = ordered(rules)
    names = tuple(dict.fromkeys([*role_attributes, *(r.attribute for r in rules if r.attribute)]))
    values: dict[str, frozenset[str]] = {}
    capped = False
    for name in names:
        values[name], name_capped = usable_values(attributes.get(name, ()))
        capped = capped or name_capped
    role_values = frozenset().union(*(values[n] for n in role_attributes))

    for rule in rules:
        candidates = values.get(rule.attribute, frozenset()) if rule.attribute else role_values
        matches = _matching(rule, candidates)
        if matches:
            value = min(matches)  # deterministic whatever order the values came in
            if rule.attribute:
                attribute = rule.attribute
            else:
                attribute = next(n for n in role_attributes if value in values[n])
            return Decision(rule.group_id, rule, REASON_RULE, attribute, value, names, capped)

    anything = any(values[n] for n in names)
    reason = REASON_NO_MATCH if anything else REASON_NO_ROLE_ATTRIBUTE
    return Decision(default_group_id, None, reason, consulted=names, capped=capped)


def explain(decision: Decision) -> str:
    """Why the decision fell as it did, in one line for an admin."""
    if decision.rule is not None:
        return f"{decision.rule.describe()} matched {decision.matched_attribute}={decision.matched_value!r}"
    looked = ", ".join(decision.consulted) or "(no role attribute configured)"
    if decision.reason == REASON_NO_ROLE_ATTRIBUTE:
        return f"the IdP sent no value for {looked}"
    return f"no rule matched the values of {looked}"
