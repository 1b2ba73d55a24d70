import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden, lstm_num_layers, device, dropout_keep_prob):
        super(TextGenerationModel, self).__init__()
        # train.py passes config.dropout_keep_prob on: dropout between the LSTM layers
        self.embedding = nn.Embedding(vocabulary_size, lstm_num_hidden)
        self.lstm = nn.LSTM(lstm_num_hidden, lstm_num_hidden, lstm_num_layers,
                            dropout=1 - dropout_keep_prob, batch_first=True)
        self.output = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return self.output(out)
