"""Django merges every app's zh_Hans catalogue into ONE catalogue per language.

For a msgid present in several apps, the first catalogue found (LOCALE_PATHS, then
INSTALLED_APPS order) wins everywhere, so a msgid translated differently in two apps
shows the wrong meaning in one of them. Same meaning → unify the translation; different
meaning → give the less general use a msgctxt (pgettext / {% translate … context … %}).

This test reads the .po files directly (no msgfmt needed) and fails on any msgid (with the
same msgctxt) whose msgstr differs between two catalogues.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "valuecrm"
LANG = "zh_Hans"

# Conflicts not fixed yet: (msgctxt or None, msgid). Each one is a known bug; remove the
# entry when fixing it. Any conflict NOT listed here fails the test.
KNOWN_CONFLICTS: set[tuple[str | None, str]] = set()  # none left: keep it that way


def parse_po(text: str) -> dict[tuple[str | None, str], str]:
    """(msgctxt, msgid) → msgstr of the translated, non-fuzzy, non-obsolete entries.

    Plural entries are keyed on the singular msgid; their msgstr[n] are joined with NUL.
    """
    out: dict[tuple[str | None, str], str] = {}
    entry: dict[str, str] = {}
    flags: set[str] = set()
    field: str | None = None

    def flush() -> None:
        nonlocal entry, flags, field
        msgid = entry.get("msgid")
        if msgid and "fuzzy" not in flags:
            if "msgid_plural" in entry:
                strs = [entry[k] for k in sorted(k for k in entry if k.startswith("msgstr["))]
                msgstr = "\x00".join(strs) if all(strs) else ""
            else:
                msgstr = entry.get("msgstr", "")
            if msgstr:
                out[(entry.get("msgctxt"), msgid)] = msgstr
        entry, flags, field = {}, set(), None

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#~"):  # obsolete
            continue
        if line.startswith("#,"):
            if field is not None and "msgstr" in "".join(entry):
                flush()
            flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            if field is not None:
                entry[field] += ast.literal_eval(line)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in entry):
            flush()  # entries not separated by a blank line
        field = keyword
        entry[field] = ast.literal_eval(rest.strip())
    flush()
    return out


def find_conflicts(
    catalogues: dict[str, dict[tuple[str | None, str], str]],
) -> dict[tuple[str | None, str], dict[str, str]]:
    """Keys translated differently in at least two catalogues → {catalogue name: msgstr}."""
    by_key: dict[tuple[str | None, str], dict[str, str]] = defaultdict(dict)
    for name, catalogue in catalogues.items():
        for key, msgstr in catalogue.items():
            by_key[key][name] = msgstr
    return {k: v for k, v in by_key.items() if len(set(v.values())) > 1}


def load_catalogues() -> dict[str, dict[tuple[str | None, str], str]]:
    paths = sorted(SRC.glob(f"*/locale/{LANG}/LC_MESSAGES/django.po"))
    paths.append(SRC / "locale" / LANG / "LC_MESSAGES" / "django.po")
    return {
        str(p.relative_to(SRC).parts[0]): parse_po(p.read_text(encoding="utf-8"))
        for p in paths
        if p.exists()
    }


def test_no_conflicting_translations_across_catalogues():
    catalogues = load_catalogues()
    assert len(catalogues) > 5, catalogues.keys()
    conflicts = find_conflicts(catalogues)
    new = {k: v for k, v in conflicts.items() if k not in KNOWN_CONFLICTS}
    lines = [
        f"  {ctx!r} {msgid!r}: {sorted(d.items())}"
        for (ctx, msgid), d in sorted(new.items(), key=str)
    ]
    assert not new, (
        "The same msgid is translated differently in two catalogues; Django keeps only one. "
        "Unify it (same meaning) or give one use a msgctxt (different meaning):\n"
        + "\n".join(lines)
    )


def test_known_conflicts_are_still_conflicts():
    """Keep the allowlist honest: a fixed conflict must leave KNOWN_CONFLICTS."""
    conflicts = find_conflicts(load_catalogues())
    assert not (KNOWN_CONFLICTS - conflicts.keys()), sorted(
        KNOWN_CONFLICTS - conflicts.keys(), key=str
    )


PO_A = """
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Open"
msgstr "打开"

msgctxt "deal status"
msgid "Closed"
msgstr "已成交"

#, fuzzy
msgid "Draft"
msgstr "草稿箱"

msgid "Same"
msgstr "相同"

msgid "one item"
msgid_plural "%(n)s items"
msgstr[0] "%(n)s 项"
"""

PO_B = """
msgid "Open"
msgstr ""
"进行"
"中"

msgid "Closed"
msgstr "已关闭"

msgid "Draft"
msgstr "草稿"

msgid "Same"
msgstr "相同"

msgid "Untranslated"
msgstr ""
"""


def test_parse_po_reads_context_multiline_and_skips_fuzzy():
    a = parse_po(PO_A)
    b = parse_po(PO_B)
    assert a[(None, "Open")] == "打开"
    assert b[(None, "Open")] == "进行中"
    assert a[("deal status", "Closed")] == "已成交"
    assert (None, "Draft") not in a
    assert a[(None, "one item")] == "%(n)s 项"
    assert (None, "Untranslated") not in b
    assert (None, "") not in a


@pytest.mark.parametrize("swap", [False, True])
def test_checker_detects_planted_conflict(swap):
    cats = {"a": parse_po(PO_A), "b": parse_po(PO_B)}
    if swap:
        cats = {"b": cats["b"], "a": cats["a"]}
    conflicts = find_conflicts(cats)
    assert conflicts == {(None, "Open"): {"a": "打开", "b": "进行中"}}
    # a context separates meanings, fuzzy entries are not compiled, equal strings agree
    assert (None, "Closed") not in conflicts
    assert (None, "Draft") not in conflicts
    assert (None, "Same") not in conflicts
