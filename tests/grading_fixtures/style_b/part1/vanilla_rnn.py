import torch
import torch.nn as nn


class VanillaRNN(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(VanillaRNN, self).__init__()
        self.seq_length, self.num_hidden = seq_length, num_hidden
        # weights stored (in, out): h @ W
        self.W_hx = nn.Parameter(torch.randn(input_dim, num_hidden, device=device) * 0.1)
        self.W_hh = nn.Parameter(torch.randn(num_hidden, num_hidden, device=device) * 0.1)
        self.W_ph = nn.Parameter(torch.randn(num_hidden, num_classes, device=device) * 0.1)
        self.b_h = nn.Parameter(torch.zeros(num_hidden, device=device))
        self.b_p = nn.Parameter(torch.zeros(num_classes, device=device))

    def forward(self, x):
        x = x.t().unsqueeze(-1)  # digits (B, T) -> time-major (T, B, 1): input_dim=1 only
        h = torch.zeros(x.shape[1], self.num_hidden, dtype=x.dtype, device=x.device)
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ self.W_hx + h @ self.W_hh + self.b_h)
        return h @ self.W_ph + self.b_p
