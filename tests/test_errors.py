"""Every refusal has a code of its own, set on its class, and docs/errors.md explains each one.

The page is what a customer's admin or our ops read when they meet a code: a code the product
can emit but the page does not list, or a listed code that no longer exists, fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from sp import errors

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| `([a-z0-9_.]+)` \| (\d{3}) \|", re.MULTILINE)

for path in sorted((ROOT / "sp").rglob("*.py")):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))

CLASSES = list(errors.concrete_classes())


def documented() -> dict[str, int]:
    return {code: int(status) for code, status in ROW.findall((ROOT / "docs" / "errors.md").read_text())}


def test_no_two_error_classes_share_a_code():
    seen: dict[str, str] = {}
    for cls in CLASSES:
        assert cls.code not in seen, f"{cls.__name__} and {seen[cls.code]} share the code {cls.code!r}"
        seen[cls.code] = cls.__name__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.code)
def test_each_code_is_the_classes_own(cls):
    assert "code" in cls.__dict__, f"{cls.__name__} inherits its code; give it one of its own"
    assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", cls.code)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.code)
def test_each_code_is_explained_for_the_people_who_meet_it(cls):
    page = documented()
    assert cls.code in page, f"docs/errors.md does not explain {cls.code!r} ({cls.__module__}.{cls.__name__})"
    assert page[cls.code] == cls.status, (
        f"docs/errors.md gives {cls.code!r} the status {page[cls.code]}, not {cls.status}"
    )


def test_the_page_lists_no_code_the_product_cannot_emit():
    emitted = {cls.code for cls in CLASSES}
    stale = sorted(set(documented()) - emitted)
    assert not stale, f"docs/errors.md lists codes nothing raises any more: {stale}"


def test_a_detail_goes_in_through_the_constructor():
    refusal = errors.SignatureInvalid("the response was signed by another key")
    assert (refusal.code, refusal.status, refusal.reason) == (
        "saml.signature_invalid",
        400,
        "the response was signed by another key",
    )
    assert errors.SignatureInvalid().reason == errors.SignatureInvalid.message
