import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.emb = nn.Embedding(vocabulary_size, vocabulary_size)
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers, batch_first=False)
        self.head = nn.Linear(lstm_num_hidden, vocabulary_size)

    def forward(self, x):
        # x is time-major (T, B), output (T, B, V)
        out, _ = self.lstm(self.emb(x))
        return self.head(out)
