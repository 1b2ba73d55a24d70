import torch
import torch.nn as nn


class LSTM(nn.Module):
    """All four gates in one matrix on [x_t, h_{t-1}]; chunk order g, i, f, o."""

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super().__init__()
        self.hidden = num_hidden
        self.W = nn.Parameter(torch.randn(input_dim + num_hidden, 4 * num_hidden) / (input_dim + num_hidden) ** 0.5)
        self.b = nn.Parameter(torch.zeros(4 * num_hidden))
        self.W_out = nn.Parameter(torch.randn(num_hidden, num_classes) / num_hidden ** 0.5)
        self.b_out = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        h = x.new_zeros(x.size(0), self.hidden)
        c = x.new_zeros(x.size(0), self.hidden)
        for t in range(x.size(1)):
            gates = torch.cat([x[:, t], h], dim=1) @ self.W + self.b
            g, i, f, o = gates.chunk(4, dim=1)
            g, i, f, o = torch.tanh(g), torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_out + self.b_out
