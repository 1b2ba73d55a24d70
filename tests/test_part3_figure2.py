"""part3/figure2.py: Ã of the Figure 2 graph, hop counts (C -> E = 3), message passing, the CLI and
its files."""
from __future__ import annotations

import csv
import json

import networkx as nx
import pytest
import torch

from part3 import figure2
from part3.figure2 import NODES, adjacency, hops_by_bfs, hops_by_powers, spread
from tests.conftest import ROOT, assert_one_line_error, run_script

N = NODES.index


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def with_self_loops(a):
    return a + torch.eye(a.shape[0], dtype=a.dtype)


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
    assert torch.equal(with_self_loops(adjacency()), expected)


def test_information_from_c_reaches_e_after_three_updates():
    a = adjacency()
    a_tilde = with_self_loops(a)
    hops = hops_by_powers(a_tilde)
    assert hops[N("E"), N("C")] == 3
    for k in range(3):  # and not earlier: (Ãᵏ)[E, C] = 0 for k < 3, computed independently here
        assert torch.linalg.matrix_power(a_tilde, k)[N("E"), N("C")] == 0
    assert torch.linalg.matrix_power(a_tilde, 3)[N("E"), N("C")] > 0


def test_hop_table_agrees_with_networkx_shortest_paths():
    hops = hops_by_powers(with_self_loops(adjacency()))
    graph = nx.Graph(figure2.EDGES)
    for u, lengths in nx.all_pairs_shortest_path_length(graph):
        for v, d in lengths.items():
            assert hops[N(u), N(v)] == d, (u, v)


def test_hop_counts_mark_unreachable_nodes():
    nodes, edges = ("P", "Q", "R"), (("P", "Q"),)  # R is cut off
    hops = hops_by_powers(with_self_loops(adjacency(nodes, edges)))
    assert hops[2, 0] == figure2.UNREACHABLE and hops[1, 0] == 1
    assert torch.equal(hops, hops_by_bfs(nodes, edges))


def test_one_hot_feature_spreads_one_hop_per_layer():
    a = adjacency()
    values = spread(a, N("C"), 3)  # (4, 6)
    hops = hops_by_bfs()[N("C")]
    for layer in range(4):
        assert torch.equal(values[layer] != 0, hops <= layer), layer
    # Layer 1 by hand: Â[C, C] = 1/D̃_CC = 1/3; Â[B, C] = 1/sqrt(D̃_BB D̃_CC) = 1/sqrt(4 * 3).
    assert values[1, N("C")].item() == pytest.approx(1 / 3)
    assert values[1, N("B")].item() == pytest.approx(1 / 12 ** 0.5)


def test_script_writes_tables_and_json_with_the_answer(tmp_path):
    proc = run_script("part3/figure2.py", "--out_dir", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert "reaches E after 3 GCN update(s)" in proc.stdout
    assert "| E | 1 | 2 | 3 | 2 | 0 | 1 |" in proc.stdout  # the hop table's row E is printed
    out = tmp_path / "fig"
    for name in ("figure2.png", "figure2.md", "figure2.json", "a_tilde.csv", "hops.csv", "spread.csv"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {row[""]: row for row in read_csv(out / "hops.csv")}
    assert rows["E"]["C"] == "3" and rows["C"]["E"] == "3"
    spread_rows = read_csv(out / "spread.csv")
    assert [row["layer"] for row in spread_rows] == ["0", "1", "2", "3"]
    assert float(spread_rows[2]["E"]) == 0 and float(spread_rows[3]["E"]) > 0
    summary = json.loads((out / "figure2.json").read_text(encoding="utf-8"))
    assert summary["updates"] == {"source": "C", "target": "E", "k": 3}
    assert "torch" in summary["environment"] and summary["args"]["layers"] == 3
    nodes = summary["nodes"]
    assert nodes == list("ABCDEF") and len(summary["edges"]) == 8
    distances = dict(nx.all_pairs_shortest_path_length(nx.Graph(figure2.EDGES)))
    assert summary["hops"] == [[distances[u][v] for v in nodes] for u in nodes]
    assert summary["degrees"] == [3, 3, 2, 3, 2, 3]  # A: B, E, F; C: B, D; ...
    assert summary["d_tilde"] == [d + 1 for d in summary["degrees"]]
    assert summary["a_hat"][N("C")][N("B")] == pytest.approx(1 / 12 ** 0.5)  # 1/sqrt(D̃_CC D̃_BB)
    assert summary["layers"] == 3 and len(summary["spread"]) == 4
    assert [v for v in nodes if summary["spread"][1][v] != 0] == ["B", "C", "D"]
    assert summary["spread"][2]["E"] == 0 and summary["spread"][3]["E"] > 0
    assert summary["reached"] == nodes


def test_quiet_prints_only_the_answer_and_the_files(tmp_path, capsys):
    figure2.main(["--out_dir", str(tmp_path), "--quiet"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "reaches E after 3" in lines[0] and lines[1].startswith("wrote ")
    assert (tmp_path / "hops.csv").exists()


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        figure2.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--out_dir" in text and "(default: 3)" in text and "(default: C)" in text


def test_script_runs_from_its_folder(tmp_path):
    proc = run_script("figure2.py", "--out_dir", tmp_path, "--source", "A", "--target", "C",
                      cwd=ROOT / "part3")
    assert proc.returncode == 0, proc.stderr
    assert "Information from A reaches C after 2 GCN update(s)" in proc.stdout


@pytest.mark.parametrize("flags,fragment", [
    (["--layers", "0"], "--layers"),
    (["--out_dir", "FILE"], "--out_dir"),
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
