import torch
import torch.nn as nn


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.num_hidden = num_hidden
        self.device = device
        self.W_hx = nn.Parameter(torch.randn(num_hidden, input_dim) / num_hidden ** 0.5)
        self.W_hh = nn.Parameter(torch.randn(num_hidden, num_hidden) / num_hidden ** 0.5)
        self.b_h = nn.Parameter(torch.zeros(num_hidden))
        self.W_ph = nn.Parameter(torch.randn(num_hidden, num_classes) / num_hidden ** 0.5)
        self.b_p = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        # x: (batch, seq_length) or (batch, seq_length, input_dim)
        if x.dim() == 2:
            x = x[..., None]
        h = torch.zeros(x.size(0), self.num_hidden)
        for t in range(x.size(1)):
            # x(t) @ W_hx^T is W_hx x(t) for row vectors; the recurrent and output matrices are
            # kept the way the product reads
            h = torch.tanh(x[:, t] @ self.W_hx.T + h @ self.W_hh + self.b_h)
        return h @ self.W_ph + self.b_p
