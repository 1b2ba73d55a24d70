import torch.nn as nn


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.embed = nn.Embedding(vocabulary_size, 32)
        self.lstm = nn.LSTM(32, lstm_num_hidden, lstm_num_layers, batch_first=True)
        self.classifier = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))   # (B, T, H)
        # nn.CrossEntropyLoss wants the classes on dimension 1: (B, V, T) against targets (B, T)
        return self.classifier(out).permute(0, 2, 1)
