################################################################################
# MIT License
# Author: Deep Learning Course | Fall 2019
################################################################################

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import torch
import torch.nn as nn

################################################################################

class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.seq_length = seq_length
        self.num_hidden = num_hidden
        self.device = device
        std = 1.0

        # column-vector convention: h is (num_hidden, batch)
        self.W_gx = nn.Parameter(torch.randn(num_hidden, input_dim) * std)
        self.W_gh = nn.Parameter(torch.randn(num_hidden, num_hidden) * std)
        self.b_g = nn.Parameter(torch.zeros(num_hidden, 1))
        self.W_ix = nn.Parameter(torch.randn(num_hidden, input_dim) * std)
        self.W_ih = nn.Parameter(torch.randn(num_hidden, num_hidden) * std)
        self.b_i = nn.Parameter(torch.zeros(num_hidden, 1))
        self.W_fx = nn.Parameter(torch.randn(num_hidden, input_dim) * std)
        self.W_fh = nn.Parameter(torch.randn(num_hidden, num_hidden) * std)
        self.b_f = nn.Parameter(torch.zeros(num_hidden, 1))
        self.W_ox = nn.Parameter(torch.randn(num_hidden, input_dim) * std)
        self.W_oh = nn.Parameter(torch.randn(num_hidden, num_hidden) * std)
        self.b_o = nn.Parameter(torch.zeros(num_hidden, 1))
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden) * std)
        self.b_p = nn.Parameter(torch.zeros(num_classes, 1))

    def forward(self, x):
        batch_size = x.shape[0]
        h = torch.zeros(self.num_hidden, batch_size, device=self.device)
        c = torch.zeros(self.num_hidden, batch_size, device=self.device)
        for t in range(self.seq_length):
            x_t = x[:, t].view(1, -1)  # (1, batch)
            g = torch.tanh(self.W_gx @ x_t + self.W_gh @ h + self.b_g)
            i = torch.sigmoid(self.W_ix @ x_t + self.W_ih @ h + self.b_i)
            f = torch.sigmoid(self.W_fx @ x_t + self.W_fh @ h + self.b_f)
            o = torch.sigmoid(self.W_ox @ x_t + self.W_oh @ h + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        p = self.W_ph @ h + self.b_p
        return p.t()
