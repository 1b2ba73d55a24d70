"""Part 3's drawings: the Figure 2 graph and the karate club's hidden embedding during training."""
from __future__ import annotations

from pathlib import Path

import torch

from part3.karate import FACTIONS, Run, project_2d


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw_graph(a: torch.Tensor, nodes, path: Path, source: str, target: str) -> None:
    """Draw the undirected graph of adjacency ``a`` to a PNG, the source and the target highlighted."""
    import networkx as nx

    plt = pyplot()
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((nodes[i], nodes[j]) for i, j in torch.nonzero(torch.triu(a)).tolist())
    colours = ["tab:orange" if v == source else "tab:green" if v == target else "tab:blue"
               for v in graph.nodes]
    figure, axes = plt.subplots(figsize=(5, 4))
    nx.draw_networkx(graph, nx.spring_layout(graph, seed=3), ax=axes, node_color=colours,
                     node_size=700, font_color="white", font_weight="bold")
    axes.set_title(f"Figure 2 graph ({source} orange, {target} green)")
    axes.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_embeddings(run: Run, labels: torch.Tensor, path: Path) -> None:
    """One scatter plot per snapshot epoch: nodes coloured by faction, labelled nodes ringed."""
    plt = pyplot()
    epochs = sorted(run.embeddings)
    figure, axes = plt.subplots(1, len(epochs), figsize=(3.2 * len(epochs), 3.4), squeeze=False)
    accuracy = {row["epoch"]: row["held_out_accuracy"] for row in run.history}
    labelled = run.labelled.cpu()
    for ax, epoch in zip(axes[0], epochs):
        points, kind = project_2d(run.embeddings[epoch])  # (N, 2)
        for c, (name, colour) in enumerate(zip(FACTIONS, ("tab:blue", "tab:orange"))):
            members = labels == c
            ax.scatter(points[members, 0], points[members, 1], s=40, c=colour, label=name)
        ax.scatter(points[labelled, 0], points[labelled, 1], s=160,
                   facecolors="none", edgecolors="black", linewidths=1.5, label="labelled")
        ax.set_title(f"epoch {epoch}: held-out acc {accuracy[epoch]:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel(kind)
    axes[0][0].legend(fontsize=7, loc="best")
    figure.suptitle(f"Karate club: GCN hidden embedding during training (seed {run.seed})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
