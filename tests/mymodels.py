"""A user's own models, as a user writes them: plain nn.Modules that know nothing of cnnlab.
Trained in tests/usercode through `--model tests.mymodels:SmallNet` and `fit(model=SmallNet())`."""

from torch import nn


class SmallNet(nn.Module):
    """Two convolutions, global average pooling and a linear layer: any input size works."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def small_net(num_classes, width=8):
    """A factory function (not a class) that declares only what it needs."""
    return SmallNet(num_classes=num_classes, in_channels=1, width=width)
