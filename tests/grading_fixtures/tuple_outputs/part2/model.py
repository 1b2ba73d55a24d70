import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.embedding = nn.Embedding(vocabulary_size, 64)
        self.lstm = nn.LSTM(64, lstm_num_hidden, lstm_num_layers, batch_first=True)
        self.projection = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embedding(x), state)
        # the state first: the sampling loop feeds it back one character at a time
        return state, self.projection(out)
