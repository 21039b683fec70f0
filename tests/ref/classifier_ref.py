"""PyTorch reference of the ddm classifier (core/classifier.h), the feature extractor of
`ddm eval`. named_parameters() of this module is the tensor table and the parameter
block layout of core/classifier.c: a checkpoint tensor `conv2.weight` is this module's
parameter of the same name.

    /usr/bin/python3 tests/ref/classifier_ref.py OUT.bin     # dump for test_metrics --torch-ref

The dump (little-endian): int32 [in_ch, image_size, num_classes, ch, groups, feat_dim, B],
then float32 params (named_parameters order, flattened), x (B,C,S,S), int32 labels (B),
float32 logits (B,K), features (B,F), loss (1), grads (as params), dx (B,C,S,S).
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GN_EPS = 1e-5


class Classifier(nn.Module):
    def __init__(self, in_ch=1, num_classes=10, ch=32, groups=8, feat_dim=128):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride=1, padding=1)
        self.norm1 = nn.GroupNorm(groups, ch, eps=GN_EPS)
        self.conv2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.norm2 = nn.GroupNorm(groups, 2 * ch, eps=GN_EPS)
        self.conv3 = nn.Conv2d(2 * ch, 4 * ch, 3, stride=2, padding=1)
        self.norm3 = nn.GroupNorm(groups, 4 * ch, eps=GN_EPS)
        self.fc1 = nn.Linear(4 * ch, feat_dim)
        self.fc2 = nn.Linear(feat_dim, num_classes)

    def features(self, x):
        h = F.silu(self.norm1(self.conv1(x)))
        h = F.silu(self.norm2(self.conv2(h)))
        h = F.silu(self.norm3(self.conv3(h)))
        return F.silu(self.fc1(h.mean(dim=(2, 3))))

    def forward(self, x):
        return self.fc2(self.features(x))


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    in_ch, S, K, ch, groups, feat_dim, B = 1, 32, 10, 32, 8, 128, 4
    net = Classifier(in_ch, K, ch, groups, feat_dim)
    with torch.no_grad():  # GroupNorm affine away from 1/0, so its gradients matter
        for name, p in net.named_parameters():
            if name.startswith("norm"):
                p.add_(0.3 * torch.randn_like(p))
    x = (torch.rand(B, in_ch, S, S) * 2 - 1).requires_grad_(True)
    labels = torch.tensor([3, 0, 9, 3], dtype=torch.int64)
    feat = net.features(x)
    logits = net.fc2(feat)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    f32 = lambda t: t.detach().numpy().astype("<f4").ravel()
    with open(out, "wb") as f:
        np.array([in_ch, S, K, ch, groups, feat_dim, B], dtype="<i4").tofile(f)
        np.concatenate([f32(p) for p in net.parameters()]).tofile(f)
        f32(x).tofile(f)
        labels.numpy().astype("<i4").tofile(f)
        f32(logits).tofile(f)
        f32(feat).tofile(f)
        np.array([loss.item()], dtype="<f4").tofile(f)
        np.concatenate([f32(p.grad) for p in net.parameters()]).tofile(f)
        f32(x.grad).tofile(f)
    n = sum(p.numel() for p in net.parameters())
    print("classifier_ref: %d parameters, B=%d, loss %.6f -> %s" % (n, B, loss.item(), out))


if __name__ == "__main__":
    main()
