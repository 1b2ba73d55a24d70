"""The character-level LSTM language model of part 2.

    ids (B, T) -> embedding, or one-hot as in the skeleton (B, T, E) -> nn.LSTM, L layers (B, T, H)
               -> dropout -> linear (B, T, V) logits of the next character

``forward(x, state)`` also returns the new ``(h, c)``, so sampling feeds one character at a time
and carries the state instead of re-running the prefix.
"""
from __future__ import annotations

import torch
from torch import nn

from part2.dataset import UserError


def resolve_device(name: str | None) -> torch.device:
    """``--device``: auto (None: the same) is CUDA when present, else the CPU; cpu, cuda, cuda:N."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not (name == "cuda" or name.startswith("cuda:")):
        raise UserError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")
    if name != "cpu" and not torch.cuda.is_available():
        raise UserError(f"--device {name} was requested but CUDA is not available here; use --device cpu")
    return torch.device(name)


class TextGenerationModel(nn.Module):
    """Next-character model.

    Args:
        batch_size, seq_length: the course skeleton's signature; the model takes any batch and length.
        vocabulary_size: ``V``, distinct characters.
        lstm_num_hidden: ``H``, units per LSTM layer.
        lstm_num_layers: ``L``, stacked LSTM layers.
        device: where the parameters live; None or ``'auto'``: CUDA when present, else the CPU.
        dropout_keep_prob: probability of keeping a unit, between LSTM layers and after the top one.
        embedding_dim: ``E``; 0 feeds one-hot vectors (``E = V``) as the skeleton does.
    """

    def __init__(self, batch_size, seq_length, vocabulary_size, lstm_num_hidden=256, lstm_num_layers=2,
                 device=None, dropout_keep_prob=1.0, embedding_dim=64):
        super().__init__()
        self.vocabulary_size, self.lstm_num_hidden, self.lstm_num_layers = (
            vocabulary_size, lstm_num_hidden, lstm_num_layers)
        drop = 1.0 - dropout_keep_prob
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim) if embedding_dim else None
        self.lstm = nn.LSTM(embedding_dim or vocabulary_size, lstm_num_hidden, lstm_num_layers,
                            batch_first=True, dropout=drop if lstm_num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(drop)
        self.output = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.device = resolve_device(str(device) if device is not None else None)
        self.to(self.device)

    def encode_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(...)`` ids -> ``(..., E)`` embedding rows, or one-hot vectors with ``E = V``."""
        if self.embedding is not None:
            return self.embedding(x)
        return nn.functional.one_hot(x, self.vocabulary_size).to(self.output.weight.dtype)

    def forward(self, x: torch.Tensor, state=None):
        """``x`` ``(B, T)`` ids and ``state`` None (zeros) or ``(h, c)``, each ``(L, B, H)`` ->
        logits ``(B, T, V)`` and the new ``(h, c)``."""
        hidden, state = self.lstm(self.encode_input(x), state)  # (B, T, H); (L, B, H) each
        return self.output(self.dropout(hidden)), state

    @torch.no_grad()
    def step(self, x: torch.Tensor, state=None):
        """One character per sequence, in eval mode: ``x`` ``(B,)`` -> logits ``(B, V)`` and the new
        state. The same maths as ``forward`` with ``T = 1``, but ``torch.lstm_cell`` layer by layer
        costs a fifth of a one-step ``nn.LSTM`` call on a CPU, which is what sampling pays per character."""
        inp = self.encode_input(x)                                                       # (B, E)
        if state is None:
            zeros = inp.new_zeros(self.lstm_num_layers, x.shape[0], self.lstm_num_hidden)
            state = (zeros, zeros)
        hs, cs = [], []
        for layer in range(self.lstm_num_layers):
            weights = [getattr(self.lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                           "bias_hh")]
            h, c = torch.lstm_cell(inp, (state[0][layer], state[1][layer]), *weights)   # (B, H) each
            hs.append(h)
            cs.append(c)
            inp = h
        return self.output(inp), (torch.stack(hs), torch.stack(cs))                     # (B, V); (L, B, H)
