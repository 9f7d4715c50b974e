"""The manual stays true: the README is the entry, every page is linked, every setting is in the table."""

from __future__ import annotations

import re
from pathlib import Path

from sp import config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_an_entry_page_not_the_whole_manual():
    assert len(README) < 20_000
    assert "make run" in README and "make test" in README


def test_every_docs_page_is_linked_from_the_readme():
    missing = [page.name for page in PAGES if f"docs/{page.name}" not in README]
    assert not missing, f"README.md links to no {missing}"


def test_every_setting_ops_can_tune_is_in_the_readme_table():
    missing = [name for name in (*(s.name for s in config.SETTINGS), *config.COMPUTED) if f"| `{name}` |" not in README]
    assert not missing, f"the README's configuration table lacks {missing}"


def test_every_relative_link_in_the_manual_leads_somewhere():
    broken = []
    for page in [ROOT / "README.md", *PAGES]:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links: " + ", ".join(broken)
