# MIT License
# Author: Deep Learning Course | Fall 2019

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import torch
import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):

        super(TextGenerationModel, self).__init__()
        self.vocabulary_size = vocabulary_size
        self.device = device
        # inputs come from torch.stack(batch_inputs): (seq_length, batch_size)
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers)
        self.linear = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x, hidden=None):
        one_hot = torch.zeros(x.shape[0], x.shape[1], self.vocabulary_size, device=x.device)
        one_hot.scatter_(2, x.unsqueeze(-1), 1)
        out, (h, c) = self.lstm(one_hot, hidden)
        return self.linear(out), (h, c)
