"""Semi-supervised node classification on Zachary's karate club: the data, the labelled/held-out
split, and one GCN training run (step, evaluation, history, embedding snapshots).

The 34 members split into two factions (networkx's ``club`` attribute: "Mr. Hi" and "Officer");
those are the labels. Node features are one-hot (X = I), as in Kipf & Welling's demonstration.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from common.optim import make_optimizer
from common.runtime import UserError, seed_everything
from part3.gcn import GCN, normalized_adjacency

FACTIONS = ("Mr. Hi", "Officer")
CHANCE = 0.5  # two factions of 17 members


def karate_club() -> tuple[Tensor, Tensor]:
    """The karate club as (edge_index ``(2, 2M)`` both directions, labels ``(34,)``) from networkx.

    The edges are taken unweighted (networkx also stores interaction counts as weights)."""
    import networkx as nx

    graph = nx.karate_club_graph()
    labels = torch.tensor([FACTIONS.index(graph.nodes[v]["club"]) for v in graph.nodes])  # (N,)
    edges = torch.tensor(list(graph.edges), dtype=torch.int64).T  # (2, M)
    return torch.cat([edges, edges.flip(0)], dim=1), labels  # (2, 2M), (N,)


def split(labels: Tensor, per_class: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``per_class`` random labelled nodes of each class; returns (labelled, held_out) index tensors."""
    labelled = []
    for c in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == c).flatten()
        if per_class >= len(members):
            raise UserError(f"--labelled_per_class {per_class} leaves no held-out node in class "
                            f"'{FACTIONS[c]}' ({len(members)} members); use at most {len(members) - 1}")
        labelled.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    labelled = torch.sort(torch.cat(labelled)).values
    held_out = torch.ones(len(labels), dtype=torch.bool)
    held_out[labelled] = False
    return labelled, torch.nonzero(held_out).flatten()


def snapshot_epochs(epochs: int, count: int) -> list[int]:
    """``count`` epochs from 0 (before training) to ``epochs``, evenly spaced, without repeats."""
    return sorted({round(i * epochs / max(count - 1, 1)) for i in range(count)})


@dataclass(frozen=True)
class Config:
    """What defines one training run (the defaults are Kipf & Welling's)."""
    hidden: int = 16
    learning_rate: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5
    epochs: int = 200
    labelled_per_class: int = 1


@dataclass
class Run:
    """Everything one seed's run changes: the model, its optimizer and what was recorded."""
    seed: int
    labelled: Tensor  # (L,) labelled node indices
    held_out: Tensor  # (34 - L,)
    model: GCN
    optimizer: torch.optim.Optimizer
    history: list[dict] = field(default_factory=list)  # one row per epoch 0..epochs
    embeddings: dict[int, Tensor] = field(default_factory=dict)  # epoch -> (N, hidden)


def start_run(seed: int, config: Config, labels: Tensor, num_nodes: int, device) -> Run:
    """Seed everything, draw the split, build the GCN and its Adam optimizer (L2 weight decay)."""
    seed_everything(seed)
    labelled, held_out = split(labels, config.labelled_per_class, torch.Generator().manual_seed(seed))
    model = GCN(num_nodes, config.hidden, len(FACTIONS), dropout=config.dropout, cached=True).to(device)
    optimizer = make_optimizer("adam", model.parameters(), config.learning_rate,
                               weight_decay=config.weight_decay)
    return Run(seed, labelled.to(device), held_out.to(device), model, optimizer)


def train_step(run: Run, x: Tensor, a_hat: Tensor, y: Tensor) -> None:
    """One full-batch step on the labelled nodes (dropout on)."""
    run.model.train()
    run.optimizer.zero_grad()
    F.nll_loss(run.model(x, a_hat)[run.labelled], y[run.labelled]).backward()
    run.optimizer.step()


@torch.no_grad()
def evaluate(run: Run, x: Tensor, a_hat: Tensor, y: Tensor, epoch: int, snapshot: bool) -> dict:
    """Append the epoch's loss on the labelled nodes and held-out accuracy (dropout off) to the
    history; keep the hidden embedding when ``snapshot``."""
    run.model.eval()
    log_probs = run.model(x, a_hat)  # (N, C)
    correct = log_probs.argmax(dim=1) == y  # (N,)
    row = {"epoch": epoch, "train_loss": F.nll_loss(log_probs[run.labelled], y[run.labelled]).item(),
           "train_accuracy": correct[run.labelled].float().mean().item(),
           "held_out_accuracy": correct[run.held_out].float().mean().item()}
    run.history.append(row)
    if snapshot:
        run.embeddings[epoch] = run.model.hidden(x, a_hat).cpu()  # (N, hidden)
    return row


def train_seed(seed: int, config: Config, edge_index: Tensor, labels: Tensor, device,
               snapshots=(), on_epoch: Callable[[], object] | None = None) -> Run:
    """Train one GCN for ``config.epochs`` full-batch steps; epoch 0 is the untrained model."""
    n = len(labels)
    a_hat = normalized_adjacency(edge_index=edge_index, num_nodes=n).to(device)  # (N, N) CSR
    x = torch.eye(n, device=device)  # (N, N) one-hot node features
    y = labels.to(device)
    run = start_run(seed, config, labels, n, device)
    for epoch in range(config.epochs + 1):
        if epoch > 0:
            train_step(run, x, a_hat, y)
        row = evaluate(run, x, a_hat, y, epoch, epoch in snapshots)
        if on_epoch is not None:
            on_epoch()
    if not torch.isfinite(torch.tensor(row["train_loss"])):
        raise UserError(f"seed {seed}: the loss became NaN or infinite; lower --learning_rate")
    return run


def summary(run: Run) -> dict:
    """The run's result as JSON-ready values (without the history and embeddings)."""
    last = run.history[-1]
    return {"seed": run.seed, "labelled": run.labelled.tolist(), "held_out": len(run.held_out),
            "held_out_accuracy": last["held_out_accuracy"], "train_accuracy": last["train_accuracy"],
            "train_loss": last["train_loss"]}


def project_2d(h: Tensor) -> tuple[Tensor, str]:
    """``(N, d)`` -> ``(N, 2)``: the embedding itself when d <= 2, else its first two principal axes."""
    if h.shape[1] <= 2:
        return F.pad(h, (0, 2 - h.shape[1])), "hidden units"
    centred = h - h.mean(dim=0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (d, d), rows = principal axes
    return centred @ v[:2].T, "first two principal components"  # (N, 2)
