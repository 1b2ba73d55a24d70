import torch
import torch.nn as nn
import torch.nn.functional as F


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.input_dim = input_dim
        self.num_hidden = num_hidden
        self.W_hx = nn.Parameter(torch.randn(num_hidden, input_dim) * 0.1)
        self.W_hh = nn.Parameter(torch.randn(num_hidden, num_hidden) * 0.1)
        self.b_h = nn.Parameter(torch.zeros(num_hidden))
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden) * 0.1)
        self.b_p = nn.Parameter(torch.zeros(num_classes))
        self.to(device)

    def forward(self, x):
        # x: (B, T) digit indices, one-hot encoded here
        x = F.one_hot(x.long(), self.input_dim).float()
        h = torch.zeros(x.size(0), self.num_hidden, device=x.device)
        states = []
        for t in range(x.size(1)):
            h = torch.tanh(F.linear(x[:, t], self.W_hx, self.b_h) + F.linear(h, self.W_hh))
            states.append(h)
        p = F.linear(h, self.W_ph, self.b_p)
        return torch.stack(states, 1), p
