import math

import torch
import torch.nn as nn


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.num_hidden = num_hidden
        k = 1 / math.sqrt(num_hidden)
        kw = dict(dtype=torch.float64, device=device)

        self.W_gx = nn.Parameter(torch.empty(num_hidden, input_dim, **kw).uniform_(-k, k))
        self.W_ix = nn.Parameter(torch.empty(num_hidden, input_dim, **kw).uniform_(-k, k))
        self.W_fx = nn.Parameter(torch.empty(num_hidden, input_dim, **kw).uniform_(-k, k))
        self.W_ox = nn.Parameter(torch.empty(num_hidden, input_dim, **kw).uniform_(-k, k))
        self.W_gh = nn.Parameter(torch.empty(num_hidden, num_hidden, **kw).uniform_(-k, k))
        self.W_ih = nn.Parameter(torch.empty(num_hidden, num_hidden, **kw).uniform_(-k, k))
        self.W_fh = nn.Parameter(torch.empty(num_hidden, num_hidden, **kw).uniform_(-k, k))
        self.W_oh = nn.Parameter(torch.empty(num_hidden, num_hidden, **kw).uniform_(-k, k))
        self.b_g = nn.Parameter(torch.zeros(num_hidden, **kw))
        self.b_i = nn.Parameter(torch.zeros(num_hidden, **kw))
        self.b_f = nn.Parameter(torch.ones(num_hidden, **kw))
        self.b_o = nn.Parameter(torch.zeros(num_hidden, **kw))
        self.W_ph = nn.Parameter(torch.empty(num_classes, num_hidden, **kw).uniform_(-k, k))
        self.b_p = nn.Parameter(torch.zeros(num_classes, **kw))

    def forward(self, x):
        x = x.reshape(x.shape[0], x.shape[1], -1)
        batch = x.shape[0]
        h = torch.zeros(batch, self.num_hidden, dtype=self.W_ph.dtype, device=x.device)
        c = torch.zeros_like(h)
        for t in range(x.shape[1]):
            xt = x[:, t, :]
            g = torch.tanh(xt @ self.W_gx.T + h @ self.W_gh.T + self.b_g)
            i = torch.sigmoid(xt @ self.W_ix.T + h @ self.W_ih.T + self.b_i)
            f = torch.sigmoid(xt @ self.W_fx.T + h @ self.W_fh.T + self.b_f)
            o = torch.sigmoid(xt @ self.W_ox.T + h @ self.W_oh.T + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_ph.T + self.b_p
