import torch.nn as nn


class TextGenerationModel(nn.Module):
    """Takes one-hot input (B, T, V): train.py one-hot encodes the batch."""

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers, batch_first=True,
                            dropout=0.5)
        self.linear = nn.Linear(lstm_num_hidden, vocabulary_size)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.linear(out)
