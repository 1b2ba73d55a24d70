import torch.nn as nn
import torch.nn.functional as F


class TextGenerationModel(nn.Module):

    def __init__(self, batch_size, seq_length, vocabulary_size,
                 lstm_num_hidden=256, lstm_num_layers=2, device='cuda:0'):
        super(TextGenerationModel, self).__init__()
        self.vocabulary_size = vocabulary_size
        self.lstm = nn.LSTM(vocabulary_size, lstm_num_hidden, lstm_num_layers)
        self.fc = nn.Linear(lstm_num_hidden, vocabulary_size)
        self.to(device)

    def forward(self, x):
        # x: (T, B) indices (the training script stacks the batch time-major)
        out, _ = self.lstm(F.one_hot(x, self.vocabulary_size).float())
        return self.fc(out)
