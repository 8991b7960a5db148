"""
The README's Table 3: every variant's rate on each environment and, as the paper's Table 3 gives it, the rate
divided by full BeT's. Reads the ablation tables `python -m tools.ablations` wrote; prints Markdown.

    python -m tools.studies.table3                       # reads docs/ablations/<env>/ablations.json
    python -m tools.studies.table3 --folder runs/abl     # or another folder of <env>/ablations.json

Each column's metric is its env record's (pointmass2: rollouts on one route; the others: success; on Block push
that is both blocks home, P2). The paper's column is its Block push column, the one task both share.
"""

import os

from tools import studies

ENVS = ("pointmass1", "pointmass2", "pusht", "blockpush")
PAPER = {"BeT": "1", "No offsets": ".95", "No binning (k=1)": ".25", "No history (context 1)": ".95", "MLP trunk": "0",
         "TCN trunk": ".01", "LSTM trunk": ".03", "GPT-MDN": ".83", "Unif. quant.": ".96"}   # Table 3, Block push
SHORT = lambda x: f"{x:.2f}".removeprefix("0")          # 0.97 -> .97, 1 -> 1.00


def cell(row, bet):
    """'rate (÷ BeT)': the variant's rate and its ratio to full BeT's, two digits."""
    return f"{SHORT(row['mean'])} ({SHORT(row['mean'] / bet) if bet else '–'})"   # BeT's own row: (1.00)


def main(argv=None):
    p = studies.parser(__spec__.name, __doc__)
    p.add_argument("--folder", default=os.path.join("docs", "ablations"), help="holds <env>/ablations.json")
    args = p.parse_args(argv)
    tables = {env: studies.ablation_table(args.folder, env, "table")["table"] for env in ENVS}
    print("| variant | paper | " + " | ".join(ENVS) + " |\n|---|---|" + "---|" * len(ENVS))
    for name in tables["pointmass1"]:
        cells = [cell(tables[env][name], tables[env]["BeT"]["mean"]) if name in tables[env] else "–" for env in ENVS]
        print(f"| {name} | {PAPER.get(name, '–')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    studies.run(main)
