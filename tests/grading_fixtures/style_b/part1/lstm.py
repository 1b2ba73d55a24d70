import torch
import torch.nn as nn

from vanilla_rnn import VanillaRNN  # noqa: F401 -- skeleton-style import of a sibling module


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.num_hidden = num_hidden
        for gate in 'gifo':
            setattr(self, 'W_%sx' % gate, nn.Parameter(torch.randn(input_dim, num_hidden) * 0.1))
            setattr(self, 'W_%sh' % gate, nn.Parameter(torch.randn(num_hidden, num_hidden) * 0.1))
            setattr(self, 'b_%s' % gate, nn.Parameter(torch.zeros(num_hidden)))
        self.W_ph = nn.Parameter(torch.randn(num_hidden, num_classes) * 0.1)
        self.b_p = nn.Parameter(torch.zeros(num_classes))
        self.to(device)

    def gate(self, name, x, h):
        return x @ getattr(self, 'W_%sx' % name) + h @ getattr(self, 'W_%sh' % name) + getattr(self, 'b_%s' % name)

    def forward(self, x):
        x = x.view(x.shape[0], x.shape[1], -1)
        h = x.new_zeros(x.shape[0], self.num_hidden)
        c = x.new_zeros(x.shape[0], self.num_hidden)
        for t in range(x.shape[1]):
            g = torch.tanh(self.gate('g', x[:, t], h))
            i = torch.sigmoid(self.gate('i', x[:, t], h))
            f = torch.sigmoid(self.gate('f', x[:, t], h))
            o = torch.sigmoid(self.gate('o', x[:, t], h))
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_ph + self.b_p
