import torch
import torch.nn as nn


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.seq_length = seq_length
        self.num_hidden = num_hidden
        self.W_hx = nn.Parameter(torch.empty(num_hidden, input_dim).normal_(0, 0.2))
        self.W_hh = nn.Parameter(torch.empty(num_hidden, num_hidden).normal_(0, 0.2))
        self.b_h = nn.Parameter(torch.zeros(num_hidden))
        self.W_ph = nn.Parameter(torch.empty(num_classes, num_hidden).normal_(0, 0.2))
        self.b_p = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        # x: (batch, seq_length) digits; input_dim is 1
        h = torch.zeros(self.num_hidden, x.shape[0])
        for t in range(x.shape[1]):
            h = torch.tanh(self.W_hx @ x[:, t].reshape(1, -1) + self.W_hh @ h + self.b_h[:, None])
        return (self.W_ph @ h + self.b_p[:, None]).t()
