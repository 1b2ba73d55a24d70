import torch
import torch.nn as nn
import torch.nn.functional as F


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device='cpu'):
        super(LSTM, self).__init__()
        self.input_dim = input_dim
        self.num_hidden = num_hidden

        def param(*shape):
            return nn.Parameter(torch.randn(*shape) * 0.1)

        self.W_gx, self.W_gh, self.b_g = param(num_hidden, input_dim), param(num_hidden, num_hidden), param(num_hidden)
        self.W_ix, self.W_ih, self.b_i = param(num_hidden, input_dim), param(num_hidden, num_hidden), param(num_hidden)
        self.W_fx, self.W_fh, self.b_f = param(num_hidden, input_dim), param(num_hidden, num_hidden), param(num_hidden)
        self.W_ox, self.W_oh, self.b_o = param(num_hidden, input_dim), param(num_hidden, num_hidden), param(num_hidden)
        self.W_ph, self.b_p = param(num_classes, num_hidden), param(num_classes)
        self.to(device)

    def forward(self, x):
        x = F.one_hot(x.long(), self.input_dim).float()
        h = c = torch.zeros(x.size(0), self.num_hidden, device=x.device)
        for x_t in x.unbind(1):
            g = torch.tanh(F.linear(x_t, self.W_gx, self.b_g) + F.linear(h, self.W_gh))
            i = torch.sigmoid(F.linear(x_t, self.W_ix, self.b_i) + F.linear(h, self.W_ih))
            f = torch.sigmoid(F.linear(x_t, self.W_fx, self.b_f) + F.linear(h, self.W_fh))
            o = torch.sigmoid(F.linear(x_t, self.W_ox, self.b_o) + F.linear(h, self.W_oh))
            c = g * i + c * f
            h = torch.tanh(c) * o
        return (h, c), F.linear(h, self.W_ph, self.b_p)
