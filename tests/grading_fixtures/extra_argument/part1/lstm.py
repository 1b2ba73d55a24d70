import torch
import torch.nn as nn


class LSTM(nn.Module):

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, batch_size, device='cpu'):
        super(LSTM, self).__init__()
        self.batch_size = batch_size
        self.num_hidden = num_hidden
        self.params = nn.ParameterDict()
        for gate in ("g", "i", "f", "o"):
            self.params["W_%sx" % gate] = nn.Parameter(torch.empty(num_hidden, input_dim).normal_(0, 0.2))
            self.params["W_%sh" % gate] = nn.Parameter(torch.empty(num_hidden, num_hidden).normal_(0, 0.2))
            self.params["b_%s" % gate] = nn.Parameter(torch.zeros(num_hidden))
        self.params["W_ph"] = nn.Parameter(torch.empty(num_classes, num_hidden).normal_(0, 0.2))
        self.params["b_p"] = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        P = self.params
        h = torch.zeros(self.batch_size, self.num_hidden)
        c = torch.zeros(self.batch_size, self.num_hidden)
        for t in range(x.shape[1]):
            x_t = x[:, t]
            if x_t.dim() == 1:
                x_t = x_t[:, None]
            g = torch.tanh(x_t @ P["W_gx"].t() + h @ P["W_gh"].t() + P["b_g"])
            i = torch.sigmoid(x_t @ P["W_ix"].t() + h @ P["W_ih"].t() + P["b_i"])
            f = torch.sigmoid(x_t @ P["W_fx"].t() + h @ P["W_fh"].t() + P["b_f"])
            o = torch.sigmoid(x_t @ P["W_ox"].t() + h @ P["W_oh"].t() + P["b_o"])
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ P["W_ph"].t() + P["b_p"]
