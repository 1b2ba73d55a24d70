import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers, batch_first=True)
        self.decoder = nn.Linear(lstm_num_hidden, vocabulary_size)

    def forward(self, x):
        # x: one-hot (B, T, V), as the dataset hands it out
        hidden, _ = self.lstm(x)
        return self.decoder(hidden)
