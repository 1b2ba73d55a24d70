import torch
import torch.nn as nn


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        scale = num_hidden ** -0.5

        def matrix(rows, cols):
            return nn.Parameter(scale * torch.randn(rows, cols, device=device))

        self.W_gx, self.W_gh = matrix(num_hidden, input_dim), matrix(num_hidden, num_hidden)
        self.W_ix, self.W_ih = matrix(num_hidden, input_dim), matrix(num_hidden, num_hidden)
        self.W_fx, self.W_fh = matrix(num_hidden, input_dim), matrix(num_hidden, num_hidden)
        self.W_ox, self.W_oh = matrix(num_hidden, input_dim), matrix(num_hidden, num_hidden)
        self.b_g = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.b_i = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.b_f = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.b_o = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.W_ph = matrix(num_classes, num_hidden)
        self.b_p = nn.Parameter(torch.zeros(num_classes, device=device))
        # learnt initial state, broadcast over the batch
        self.h_0 = nn.Parameter(torch.zeros(1, num_hidden, device=device))
        self.c_0 = nn.Parameter(torch.zeros(1, num_hidden, device=device))

    def forward(self, x):
        h, c = self.h_0, self.c_0
        for t in range(x.shape[1]):
            x_t = x[:, t]
            g = torch.tanh(x_t @ self.W_gx.t() + h @ self.W_gh.t() + self.b_g)
            i = torch.sigmoid(x_t @ self.W_ix.t() + h @ self.W_ih.t() + self.b_i)
            f = torch.sigmoid(x_t @ self.W_fx.t() + h @ self.W_fh.t() + self.b_f)
            o = torch.sigmoid(x_t @ self.W_ox.t() + h @ self.W_oh.t() + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_ph.t() + self.b_p
