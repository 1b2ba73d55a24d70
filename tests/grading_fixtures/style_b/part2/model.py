import torch
import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.vocabulary_size = vocabulary_size
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers)  # time-major
        self.linear = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x):
        """x: (B, T) character indices -> logits (T, B, V)."""
        one_hot = torch.nn.functional.one_hot(x.t(), self.vocabulary_size).float()
        out, _ = self.lstm(one_hot)
        return self.linear(out)
