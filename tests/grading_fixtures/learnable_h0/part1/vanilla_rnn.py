import torch
import torch.nn as nn


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        scale = num_hidden ** -0.5
        self.W_hx = nn.Parameter(scale * torch.randn(num_hidden, input_dim, device=device))
        self.W_hh = nn.Parameter(scale * torch.randn(num_hidden, num_hidden, device=device))
        self.b_h = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.W_ph = nn.Parameter(scale * torch.randn(num_classes, num_hidden, device=device))
        self.b_p = nn.Parameter(torch.zeros(num_classes, device=device))
        # the initial hidden state is learnt along with the weights
        self.h_init = nn.Parameter(torch.zeros(num_hidden, device=device))

    def forward(self, x):
        # x: (B, T, input_dim)
        h = self.h_init.expand(x.shape[0], -1)
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ self.W_hx.t() + h @ self.W_hh.t() + self.b_h)
        return h @ self.W_ph.t() + self.b_p
