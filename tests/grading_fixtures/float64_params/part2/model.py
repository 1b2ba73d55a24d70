import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.embedding = nn.Embedding(vocabulary_size, lstm_num_hidden)
        self.lstm = nn.LSTM(lstm_num_hidden, lstm_num_hidden, lstm_num_layers, batch_first=True)
        self.out = nn.Linear(lstm_num_hidden, vocabulary_size)

    def forward(self, x, state=None):
        hidden, state = self.lstm(self.embedding(x), state)
        return self.out(hidden)
