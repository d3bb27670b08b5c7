"""The workflow's final outputs, per paper item: `rule all`, the `status` rule and
status.py all read them from ``final_outputs`` (no torch: the Snakefile imports this)."""

from __future__ import annotations

from .spec import output_roots

# item -> (the family it needs, or None; the lru setup it needs, or None; its files under
# the results root, the first being what status.py names)
ITEMS: dict[str, tuple[str | None, str | None, list[str]]] = {
    "Figure 1": (None, None, ["figures/fig1.pdf", "figures/fig1.png"]),
    "Figure 2": ("ffn", None, ["figures/fig2.pdf", "figures/fig2.png", "ffn/fig2_data.csv"]),
    "Figure 3": ("rnn", None, ["figures/fig3.pdf", "figures/fig3.png", "rnn/fig3_wins.csv",
                               "rnn/table.csv"]),
    "Figure 4": ("lru", "fig4", ["figures/fig4.pdf", "figures/fig4.png", "lru/fig4_curves.csv"]),
    "Table 1": ("lru", "table1", ["tables/table1.md", "tables/table1.csv", "tables/table1.tex"]),
}


def final_outputs(config: dict) -> dict[str, list[str]]:
    """{paper item: its files} for the items this config's families and setups make."""
    results = output_roots(config)[0]
    outputs = {}
    for item, (family, setup, files) in ITEMS.items():
        if family is not None and family not in config:
            continue
        if setup is not None and setup not in config[family].get("setups", []):
            continue
        outputs[item] = [f"{results}/{path}" for path in files]
    return outputs
