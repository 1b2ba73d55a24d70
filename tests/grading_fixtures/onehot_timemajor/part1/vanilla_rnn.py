import torch
import torch.nn as nn


class VanillaRNN(nn.Module):
    """Time-major: train.py feeds batch_inputs.permute(1, 0, 2), x is (T, B, input_dim)."""

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.seq_length = seq_length
        self.num_hidden = num_hidden
        self.W_hx = nn.Parameter(torch.randn(num_hidden, input_dim) * 0.05)
        self.W_hh = nn.Parameter(torch.randn(num_hidden, num_hidden) * 0.05)
        self.b_h = nn.Parameter(torch.zeros(num_hidden, 1))
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden) * 0.05)
        self.b_p = nn.Parameter(torch.zeros(num_classes, 1))
        self.to(device)

    def forward(self, x):
        h = torch.zeros(self.num_hidden, x.shape[1], device=x.device, dtype=x.dtype)
        for t in range(self.seq_length):
            h = torch.tanh(self.W_hx @ x[t].t() + self.W_hh @ h + self.b_h)
        return (self.W_ph @ h + self.b_p).t()
