import torch
import torch.nn as nn


class LSTM(nn.Module):
    """Time-major like the RNN: x is (T, B, input_dim)."""

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.seq_length = seq_length
        self.num_hidden = num_hidden
        names = ['g', 'i', 'f', 'o']
        self.Wx = nn.ParameterList([nn.Parameter(torch.randn(num_hidden, input_dim) * 0.1) for _ in names])
        self.Wh = nn.ParameterList([nn.Parameter(torch.randn(num_hidden, num_hidden) * 0.1) for _ in names])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(num_hidden, 1)) for _ in names])
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden) * 0.1)
        self.b_p = nn.Parameter(torch.zeros(num_classes, 1))
        self.to(device)

    def forward(self, x):
        B = x.shape[1]
        h = torch.zeros(self.num_hidden, B, dtype=x.dtype, device=x.device)
        c = torch.zeros_like(h)
        for t in range(self.seq_length):
            xt = x[t].t()
            pre = [self.Wx[k] @ xt + self.Wh[k] @ h + self.b[k] for k in range(4)]
            g, i, f, o = torch.tanh(pre[0]), torch.sigmoid(pre[1]), torch.sigmoid(pre[2]), torch.sigmoid(pre[3])
            c = g * i + c * f
            h = torch.tanh(c) * o
        return (self.W_ph @ h + self.b_p).t()
