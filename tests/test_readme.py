"""The README a new user reads: its links resolve inside the repository, and its first
screen says where the agents' credentials come from."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_links_stay_in_the_repository() -> None:
    text = (REPO / "README.md").read_text()
    assert "DESIGN.md" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" in target:
            continue
        assert (REPO / target).exists(), target
    assert (REPO / "docs" / "architecture.md").exists()
    for doc in (REPO / "docs").glob("*.md"):
        assert "DESIGN.md" not in doc.read_text(), doc


def test_readme_first_screen_explains_credentials_and_doctor() -> None:
    first_screen = "\n".join((REPO / "README.md").read_text().splitlines()[:24])
    for word in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_", "never written", "wzp doctor"):
        assert word in first_screen, word
