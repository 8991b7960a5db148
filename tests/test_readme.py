"""The instructor's README (instructor-only: the handout's README is the student's, docs/handout_README.md): a
reading companion of at most 12 KB whose links land on headings, whose departures each name the paper's place, and
whose Table 3 is the committed ablation tables'."""

import json
import os
import re

from helpers import ROOT
from test_structure import heading_anchors, links_to_headings


def test_readme_stays_a_reading_companion_of_at_most_12_kb():
    assert os.path.getsize(os.path.join(ROOT, "README.md")) <= 12 * 1024     # experiment records go in docs/


def test_readme_links_into_docs_land_on_a_heading():
    links = list(links_to_headings(os.path.join(ROOT, "README.md")))
    assert any(os.sep + "docs" + os.sep in path for path, _ in links), "the README links into docs/results.md"
    for path, anchor in links:
        assert anchor in heading_anchors(path), f"README links to {path}#{anchor}: no such heading"


def departures_rows():
    """The rows of the README's "Departures from the paper" table (header and rule excluded)."""
    text = open(os.path.join(ROOT, "README.md")).read().split("## Departures from the paper")[1].split("\n## ")[0]
    return [line for line in text.splitlines() if line.startswith("|")][2:]


def test_every_departure_names_the_paper_section_table_or_equation_it_departs_from():
    """A departure is checkable only if it says where the paper says otherwise (Sec. 3.1, Table 4, Eq. 2, ...)."""
    rows = departures_rows()
    assert len(rows) >= 10
    for row in rows:
        paper = row.split("|")[1]
        assert re.search(r"\b(Sec\.|Table|Tables|Eq\.|App\.|Alg\.|Fig\.) ?[0-9A-C]", paper), f"no paper reference: {row}"


def test_readme_ablation_table_matches_the_committed_tables():
    """Every cell of the README's Table 3, 'rate (÷ BeT)', is docs/ablations/<env>/ablations.json's rate and its
    ratio to full BeT's, as tools.studies.table3 prints them; the paper column is Table 3's Block push value."""
    from tools import ablations
    from tools.studies import table3
    root = ROOT
    readme = open(os.path.join(root, "README.md")).read()
    key = lambda name: "RBC" if name == "MSE-BC (RBC)" else name.split(" (")[0]     # README: "RBC (Table 1 ...)"
    lines = readme[readme.index("| variant | paper |"):].split("\n\n")[0].splitlines()[2:]
    rows = {key(line.split("|")[1].strip()): [c.strip().replace("**", "") for c in line.split("|")[2:]] for line in lines}
    for name, paper in table3.PAPER.items():
        assert rows[key(name)][0] == paper, (name, rows[key(name)][0], paper)
    for column, env in enumerate(table3.ENVS, 1):
        table = json.load(open(os.path.join(root, "docs", "ablations", env, "ablations.json")))["table"]
        assert set(rows) == {key(name) for name in ablations.VARIANTS} >= {key(name) for name in table}
        for name in ablations.VARIANTS:           # a row not yet run on an env shows a dash there
            expected = table3.cell(table[name], table["BeT"]["mean"]) if name in table else "–"
            assert rows[key(name)][column].split(",")[0] == expected, (env, name)
