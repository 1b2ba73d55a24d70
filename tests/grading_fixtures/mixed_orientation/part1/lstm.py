import torch
import torch.nn as nn


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.num_hidden = num_hidden
        s = num_hidden ** -0.5
        self.W_gx = nn.Parameter(torch.randn(num_hidden, input_dim) * s)
        self.W_ix = nn.Parameter(torch.randn(num_hidden, input_dim) * s)
        self.W_fx = nn.Parameter(torch.randn(num_hidden, input_dim) * s)
        self.W_ox = nn.Parameter(torch.randn(num_hidden, input_dim) * s)
        self.W_gh = nn.Parameter(torch.randn(num_hidden, num_hidden) * s)
        self.W_ih = nn.Parameter(torch.randn(num_hidden, num_hidden) * s)
        self.W_fh = nn.Parameter(torch.randn(num_hidden, num_hidden) * s)
        self.W_oh = nn.Parameter(torch.randn(num_hidden, num_hidden) * s)
        self.b_g = nn.Parameter(torch.zeros(num_hidden))
        self.b_i = nn.Parameter(torch.zeros(num_hidden))
        self.b_f = nn.Parameter(torch.zeros(num_hidden))
        self.b_o = nn.Parameter(torch.zeros(num_hidden))
        self.W_ph = nn.Parameter(torch.randn(num_hidden, num_classes) * s)
        self.b_p = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        if x.dim() == 2:
            x = x[..., None]
        h = torch.zeros(x.size(0), self.num_hidden)
        c = torch.zeros(x.size(0), self.num_hidden)
        for t in range(x.size(1)):
            xt = x[:, t]
            g = torch.tanh(xt @ self.W_gx.T + h @ self.W_gh + self.b_g)
            i = torch.sigmoid(xt @ self.W_ix.T + h @ self.W_ih + self.b_i)
            f = torch.sigmoid(xt @ self.W_fx.T + h @ self.W_fh + self.b_f)
            o = torch.sigmoid(xt @ self.W_ox.T + h @ self.W_oh + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_ph + self.b_p
