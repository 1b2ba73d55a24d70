import torch
import torch.nn as nn


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.num_hidden = num_hidden

        def weight(rows, cols):
            return nn.Parameter(nn.init.xavier_uniform_(torch.empty(rows, cols, device=device)))

        for gate in "gifo":
            setattr(self, "W_" + gate + "x", weight(num_hidden, input_dim))
            setattr(self, "W_" + gate + "h", weight(num_hidden, num_hidden))
            # a forget bias of one keeps the memory open at the start
            start = 1.0 if gate == "f" else 0.0
            setattr(self, "b_" + gate, nn.Parameter(torch.full((num_hidden,), start, device=device)))
        self.W_ph = weight(num_classes, num_hidden)
        self.b_p = nn.Parameter(torch.zeros(num_classes, device=device))

    def _gate(self, name, x_t, h):
        return torch.addmm(getattr(self, "b_" + name), x_t, getattr(self, "W_" + name + "x").t()) \
            + h @ getattr(self, "W_" + name + "h").t()

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(2)
        h = x.new_zeros(x.shape[0], self.num_hidden)
        c = torch.zeros_like(h)
        for t in range(x.shape[1]):
            x_t = x[:, t]
            g = torch.tanh(self._gate("g", x_t, h))
            i = torch.sigmoid(self._gate("i", x_t, h))
            f = torch.sigmoid(self._gate("f", x_t, h))
            o = torch.sigmoid(self._gate("o", x_t, h))
            c = g * i + c * f
            h = torch.tanh(c) * o
        return torch.addmm(self.b_p, h, self.W_ph.t())
