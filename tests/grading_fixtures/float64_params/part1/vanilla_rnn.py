import math

import torch
import torch.nn as nn

DTYPE = torch.float64  # the dataset hands out float64 digits


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.num_hidden = num_hidden
        self.device = device
        k = 1 / math.sqrt(num_hidden)

        def uniform(*shape):
            return nn.Parameter(torch.empty(*shape, dtype=DTYPE, device=device).uniform_(-k, k))

        self.W_hx = uniform(num_hidden, input_dim)
        self.W_hh = uniform(num_hidden, num_hidden)
        self.b_h = uniform(num_hidden)
        self.W_ph = uniform(num_classes, num_hidden)
        self.b_p = uniform(num_classes)

    def forward(self, x):
        x = x.reshape(x.shape[0], x.shape[1], -1)
        h = torch.zeros(x.shape[0], self.num_hidden, dtype=DTYPE, device=x.device)
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ self.W_hx.T + h @ self.W_hh.T + self.b_h)
        return h @ self.W_ph.T + self.b_p
