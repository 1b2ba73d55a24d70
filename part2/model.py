"""The character-level LSTM language model of part 2.

    ids (B, T) -> embedding or one-hot (B, T, E) -> nn.LSTM, L layers (B, T, H) -> dropout -> linear (B, T, V)

With ``weight_drop > 0`` training also drops entries of every layer's hidden-to-hidden matrix
``W_hh`` (DropConnect, as in AWD-LSTM): one mask per batch, shared by all time steps, so the
recurrent connection is regularised while ``nn.LSTM``'s fused kernel still does the work.

``forward(x, state)`` returns the logits of every step and the new ``(h, c)`` state, so sampling can
feed one character at a time while carrying the state instead of re-running the prefix.
"""
from __future__ import annotations

import torch
from torch import nn

from common.runtime import UserError, resolve_device


class TextGenerationModel(nn.Module):
    """Next-character model.

    Args:
        batch_size, seq_length: kept for the course skeleton's signature; the model works with any
            batch size and sequence length.
        vocabulary_size: ``V``, the number of distinct characters.
        lstm_num_hidden: ``H``, units per LSTM layer.
        lstm_num_layers: ``L``, stacked LSTM layers.
        device: ``'auto'`` (CUDA when present, else the CPU; the skeleton's ``'cuda:0'`` failed on
            machines without CUDA), ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        dropout_keep_prob: probability of keeping a unit; dropout ``1 - keep`` is applied between
            LSTM layers and to the top layer's output.
        embedding_dim: ``E``; 0 feeds one-hot vectors (``E = V``) as in the skeleton.
        weight_drop: probability of dropping an entry of each ``W_hh`` while training (0: off).
    """

    def __init__(self, batch_size, seq_length, vocabulary_size, lstm_num_hidden=256, lstm_num_layers=2,
                 device="auto", dropout_keep_prob=1.0, embedding_dim=64, weight_drop=0.0):
        super().__init__()
        if vocabulary_size < 1 or lstm_num_hidden < 1 or lstm_num_layers < 1 or embedding_dim < 0:
            raise UserError("vocabulary_size, lstm_num_hidden and lstm_num_layers must be >= 1 "
                            "and embedding_dim >= 0")
        if not 0 < dropout_keep_prob <= 1:
            raise UserError(f"dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}")
        if not 0 <= weight_drop < 1:
            raise UserError(f"weight_drop must be in [0, 1), got {weight_drop}")
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocabulary_size = vocabulary_size
        self.lstm_num_hidden = lstm_num_hidden
        self.lstm_num_layers = lstm_num_layers
        self.embedding_dim = embedding_dim
        self.weight_drop = weight_drop
        drop = 1.0 - dropout_keep_prob
        if embedding_dim:
            self.embedding = nn.Embedding(vocabulary_size, embedding_dim)
            input_size = embedding_dim
        else:
            self.embedding = None
            input_size = vocabulary_size
        self.lstm = nn.LSTM(input_size, lstm_num_hidden, lstm_num_layers, batch_first=True,
                            dropout=drop if lstm_num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(drop)
        self.output = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.device = resolve_device(str(device))
        self.to(self.device)

    def encode_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, E)`` inputs (embedding rows, or one-hot with ``E = V``)."""
        if self.embedding is not None:
            return self.embedding(x)                                            # (B, T, E)
        return nn.functional.one_hot(x, self.vocabulary_size).to(self.output.weight.dtype)  # (B, T, V)

    def forward(self, x: torch.Tensor, state=None):
        """Logits for every position and the final state.

        Args:
            x: ``(B, T)`` LongTensor of character ids.
            state: ``None`` (zeros) or ``(h, c)``, each ``(L, B, H)``.
        Returns:
            ``logits`` ``(B, T, V)`` and the new ``(h, c)``, each ``(L, B, H)``.
        """
        inputs = self.encode_input(x)                 # (B, T, E)
        if self.training and self.weight_drop > 0:    # the same masked W_hh at every time step
            dropped = {f"weight_hh_l{layer}": nn.functional.dropout(getattr(self.lstm, f"weight_hh_l{layer}"),
                                                                    self.weight_drop)
                       for layer in range(self.lstm_num_layers)}                 # (4H, H) each
            hidden, state = torch.func.functional_call(self.lstm, dropped, (inputs, state))
        else:
            hidden, state = self.lstm(inputs, state)  # (B, T, H); h, c: (L, B, H)
        logits = self.output(self.dropout(hidden))    # (B, T, V)
        return logits, state

    def step(self, x: torch.Tensor, state=None):
        """One character for each sequence, the fast path of sampling (same weights and maths as
        :meth:`forward` with ``T = 1``; dropout is off, so use it in eval mode).

        ``nn.LSTM`` costs ~0.2 ms per call for a single step on a CPU (it sets up a sequence
        kernel each time); calling ``torch.lstm_cell`` layer by layer with the same parameters
        costs a fifth of that, which is what makes 1,000 characters take well under 0.3 s.

        Args:
            x: ``(B,)`` ids of the current characters.
            state: ``None`` or ``(h, c)``, each ``(L, B, H)``.
        Returns:
            ``logits`` ``(B, V)`` for the next character and the new ``(h, c)``, each ``(L, B, H)``.
        """
        if self.training:
            logits, state = self.forward(x[:, None], state)   # (B, 1, V)
            return logits[:, 0], state
        inp = self.encode_input(x)                             # (B, E)
        if state is None:
            zeros = inp.new_zeros(self.lstm_num_layers, x.shape[0], self.lstm_num_hidden)
            state = (zeros, zeros)
        h_all, c_all = state
        hs, cs = [], []
        for layer in range(self.lstm_num_layers):
            weights = self._cell_weights(layer)
            h, c = torch.lstm_cell(inp, (h_all[layer], c_all[layer]), *weights)  # (B, H) each
            hs.append(h)
            cs.append(c)
            inp = h
        logits = self.output(inp)                              # (B, V)
        return logits, (torch.stack(hs), torch.stack(cs))      # (L, B, H) each

    def _cell_weights(self, layer: int):
        """``(W_ih, W_hh, b_ih, b_hh)`` of one layer of ``self.lstm`` (gate order i, f, g, o)."""
        return tuple(getattr(self.lstm, f"{name}_l{layer}")
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def build_model(vocab_size: int, args: dict, device) -> TextGenerationModel:
    """The model that a ``train.py`` argument dict describes (used by training, sampling, benches)."""
    return TextGenerationModel(args["batch_size"], args["seq_length"], vocab_size,
                               lstm_num_hidden=args["lstm_num_hidden"],
                               lstm_num_layers=args["lstm_num_layers"], device=device,
                               dropout_keep_prob=args["dropout_keep_prob"],
                               embedding_dim=args["embedding_dim"],
                               weight_drop=args.get("weight_drop", 0.0))  # absent before the flag existed
