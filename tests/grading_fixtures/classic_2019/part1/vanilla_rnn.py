################################################################################
# MIT License
#
# Copyright (c) 2019
#
# Author: Deep Learning Course | Fall 2019
# Date Created: 2019-09-06
################################################################################

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import torch
import torch.nn as nn

################################################################################

class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.seq_length = seq_length
        self.input_dim = input_dim
        self.num_hidden = num_hidden
        self.num_classes = num_classes
        self.device = device

        self.W_hx = nn.Parameter(torch.randn(num_hidden, input_dim))
        self.W_hh = nn.Parameter(torch.randn(num_hidden, num_hidden))
        self.b_h = nn.Parameter(torch.zeros(num_hidden))
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden))
        self.b_p = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        # x: (batch_size, seq_length) digits
        h = torch.zeros(x.size(0), self.num_hidden, device=self.device)
        for t in range(self.seq_length):
            x_t = x[:, t].view(-1, 1)
            h = torch.tanh(x_t @ self.W_hx.t() + h @ self.W_hh.t() + self.b_h)
        p = h @ self.W_ph.t() + self.b_p
        return p
