"""part3/figure2.py: Ã of the Figure 2 graph, hop counts (C -> E = 3), message passing, the CLI."""
from __future__ import annotations

import csv
import json

import networkx as nx
import pytest
import torch

from part3 import figure2
from tests.conftest import ROOT, assert_one_line_error, run_script

N = figure2.NODES.index


def test_a_tilde_is_the_assignment_graph_plus_identity():
    # Rows/columns A..F; edges A-B, A-E, A-F, B-C, B-D, C-D, D-F, E-F, and 1 on the diagonal.
    expected = torch.tensor([
        [1, 1, 0, 0, 1, 1],  # A: A, B, E, F
        [1, 1, 1, 1, 0, 0],  # B: A, B, C, D
        [0, 1, 1, 1, 0, 0],  # C: B, C, D
        [0, 1, 1, 1, 0, 1],  # D: B, C, D, F
        [1, 0, 0, 0, 1, 1],  # E: A, E, F
        [1, 0, 0, 1, 1, 1],  # F: A, D, E, F
    ])
    assert torch.equal(figure2.with_self_loops(figure2.adjacency()), expected)


def test_information_from_c_reaches_e_after_three_updates():
    a = figure2.adjacency()
    a_tilde = figure2.with_self_loops(a)
    hops = figure2.hops_by_powers(a_tilde)
    assert hops[N("E"), N("C")] == 3
    for k in range(3):  # and not earlier: (Ãᵏ)[E, C] = 0 for k < 3, computed independently here
        assert torch.linalg.matrix_power(a_tilde, k)[N("E"), N("C")] == 0
    assert torch.linalg.matrix_power(a_tilde, 3)[N("E"), N("C")] > 0


def test_hop_table_agrees_with_bfs_and_networkx():
    a = figure2.adjacency()
    hops = figure2.hops_by_powers(figure2.with_self_loops(a))
    assert torch.equal(hops, figure2.hops_by_bfs(a))
    graph = nx.Graph(figure2.EDGES)
    for u, lengths in nx.all_pairs_shortest_path_length(graph):
        for v, d in lengths.items():
            assert hops[N(u), N(v)] == d, (u, v)


def test_hop_counts_mark_unreachable_nodes():
    a = figure2.adjacency(("P", "Q", "R"), (("P", "Q"),))  # R is cut off
    hops = figure2.hops_by_powers(figure2.with_self_loops(a))
    assert hops[2, 0] == figure2.UNREACHABLE and hops[1, 0] == 1
    assert torch.equal(hops, figure2.hops_by_bfs(a))


def test_one_hot_feature_spreads_one_hop_per_layer():
    a = figure2.adjacency()
    values = figure2.spread(a, N("C"), 3)  # (4, 6)
    hops = figure2.hops_by_bfs(a)[N("C")]
    for layer in range(4):
        assert torch.equal(values[layer] != 0, hops <= layer), layer
    # Layer 1 by hand: Â[C, C] = 1/D̃_CC = 1/3; Â[B, C] = 1/sqrt(D̃_BB D̃_CC) = 1/sqrt(4 * 3).
    assert values[1, N("C")].item() == pytest.approx(1 / 3)
    assert values[1, N("B")].item() == pytest.approx(1 / 12 ** 0.5)


def test_script_end_to_end(tmp_path):
    proc = run_script("part3/figure2.py", "--out", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert "reaches E after 3 GCN update(s)" in proc.stdout
    out = tmp_path / "fig"
    for name in ("figure2.png", "figure2.md", "figure2.json", "a_tilde.csv", "hops.csv", "spread.csv"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "hops.csv", encoding="utf-8") as handle:
        rows = {row[""]: row for row in csv.DictReader(handle)}
    assert rows["E"]["C"] == "3" and rows["C"]["E"] == "3"
    summary = json.loads((out / "figure2.json").read_text(encoding="utf-8"))
    assert summary["updates"]["k"] == 3 and "torch" in summary["environment"]


def test_script_runs_from_its_folder(tmp_path):
    proc = run_script("figure2.py", "--out", tmp_path, "--source", "A", "--target", "C",
                      cwd=ROOT / "part3")
    assert proc.returncode == 0, proc.stderr
    assert "Information from A reaches C after 2 GCN update(s)" in proc.stdout


@pytest.mark.parametrize("flags,fragment", [
    (["--layers", "0"], "--layers"),
    (["--out", "FILE"], "not a folder"),
])
def test_bad_flags_are_one_line_errors(tmp_path, flags, fragment):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    flags = [str(tmp_path / "file") if f == "FILE" else f for f in flags]
    assert_one_line_error(run_script("part3/figure2.py", *flags), fragment)


@pytest.mark.parametrize("flags", [["--source", "X"], ["--target", "Z"], ["--layers", "-2"]])
def test_more_bad_flags_rejected_by_argparse(capsys, flags):
    with pytest.raises(SystemExit) as info:
        figure2.parse_args(flags)
    assert info.value.code == 2 and flags[0] in capsys.readouterr().err.strip().splitlines()[-1]
