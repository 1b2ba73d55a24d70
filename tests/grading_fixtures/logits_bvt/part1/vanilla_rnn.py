import torch
import torch.nn as nn


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.seq_length = seq_length
        self.num_hidden = num_hidden

        def xavier(rows, cols):
            return nn.Parameter(nn.init.xavier_uniform_(torch.empty(rows, cols, device=device)))

        self.W_hx = xavier(num_hidden, input_dim)
        self.W_hh = xavier(num_hidden, num_hidden)
        self.b_h = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.W_ph = xavier(num_classes, num_hidden)
        self.b_p = nn.Parameter(torch.zeros(num_classes, device=device))

    def forward(self, x):
        if x.dim() == 2:          # (batch, time) digits -> (batch, time, 1)
            x = x.unsqueeze(2)
        h = x.new_zeros(x.shape[0], self.num_hidden)
        for t in range(x.shape[1]):
            h = torch.tanh(torch.addmm(self.b_h, x[:, t], self.W_hx.t()) + h @ self.W_hh.t())
        return torch.addmm(self.b_p, h, self.W_ph.t())
