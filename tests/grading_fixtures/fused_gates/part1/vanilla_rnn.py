import torch
import torch.nn as nn


class VanillaRNN(nn.Module):
    """h_t = tanh(Wx x_t + Wh h_{t-1} + bh), y = Wy h_T + by."""

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super().__init__()
        self.hidden = num_hidden
        self.Wx = nn.Parameter(0.1 * torch.randn(input_dim, num_hidden))
        self.Wh = nn.Parameter(0.1 * torch.randn(num_hidden, num_hidden))
        self.bh = nn.Parameter(torch.zeros(num_hidden))
        self.Wy = nn.Parameter(0.1 * torch.randn(num_hidden, num_classes))
        self.by = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        h = x.new_zeros(x.size(0), self.hidden)
        for t in range(x.size(1)):
            h = torch.tanh(x[:, t] @ self.Wx + h @ self.Wh + self.bh)
        return h @ self.Wy + self.by
