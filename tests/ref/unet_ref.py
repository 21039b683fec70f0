"""PyTorch reference of the ddm U-Net (../../shared/DESIGN.md, "The reference network").

The module tree and its named_parameters() order are the tensor names and the parameter
block layout of core/unet.c: a checkpoint tensor `down.0.block.1.conv1.weight` is this
module's parameter of the same name. Up modules are indexed by resolution level, as the
down ones (up.2 is the lowest resolution), like the pytorch_diffusion port of DDPM.

    from unet_ref import UNet
    net = UNet()                      # the defaults: 1,623,169 parameters
    out = net(x, t, labels=None)      # x (B,1,32,32), t (B) float, labels (B) long or None
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

GN_EPS = 1e-5


def timestep_embedding(t, dim, dtype=torch.float32):
    """(B) -> (B,dim): sin(t f_i) then cos(t f_i), f_i = 10000^(-i/half).
    Computed in float64 and rounded once to dtype."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)
    freqs = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -i / half)
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1).to(dtype)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, temb_ch, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=GN_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=1, padding=1)
        self.temb_proj = nn.Linear(temb_ch, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=GN_EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        else:
            self.nin_shortcut = None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = self.nin_shortcut(x) if self.nin_shortcut is not None else x
        return skip + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=GN_EPS)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(B, C, H * W)
        k = self.k(h).reshape(B, C, H * W)
        v = self.v(h).reshape(B, C, H * W)
        att = torch.bmm(q.permute(0, 2, 1), k) * (C ** -0.5)   # (B,N,N): [b,i,j] = q_i . k_j
        att = torch.softmax(att, dim=2)
        o = torch.bmm(v, att.permute(0, 2, 1)).reshape(B, C, H, W)  # o[b,c,i] = sum_j v att[i,j]
        return x + self.proj_out(o)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    def __init__(self, ch=32, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(8,),
                 groups=8, dropout=0.0, num_classes=0, image_size=32, in_ch=1, out_ch=1,
                 cond_ch=0, head=0):
        """head 0: the U-Net; head 1 ("pool"): the encoder of a noise-aware classifier
        (Dhariwal & Nichol 2021): the down path and the middle, then GroupNorm, SiLU, a mean
        over the positions and a Linear to out_ch logits."""
        super().__init__()
        self.head_kind = head
        self.ch, self.ch_mult, self.num_res_blocks = ch, tuple(ch_mult), num_res_blocks
        self.attn_resolutions = tuple(attn_resolutions)
        self.num_classes = num_classes
        n = len(ch_mult)
        temb_ch = 4 * ch

        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, temb_ch)  # last row: null label
        # SR3: x is the image and cond_ch condition channels, concatenated (torch.cat(dim=1))
        self.conv_in = nn.Conv2d(in_ch + cond_ch, ch, 3, stride=1, padding=1)

        skips = [ch]
        cur, res = ch, image_size
        self.down = nn.ModuleList()
        for L in range(n):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            cout = ch * ch_mult[L]
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(cur, cout, temb_ch, groups, dropout))
                cur = cout
                if res in self.attn_resolutions:
                    attns.append(AttnBlock(cur, groups))
                skips.append(cur)
            level = nn.Module()
            level.block, level.attn = blocks, attns
            if L != n - 1:
                level.downsample = Downsample(cur)
                skips.append(cur)
                res //= 2
            self.down.append(level)

        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(cur, cur, temb_ch, groups, dropout)
        self.mid.attn_1 = AttnBlock(cur, groups)
        self.mid.block_2 = ResnetBlock(cur, cur, temb_ch, groups, dropout)

        if head == 1:
            self.norm_out = nn.GroupNorm(groups, cur, eps=GN_EPS)
            self.head = nn.Linear(cur, out_ch)
            return

        ups = [None] * n
        for L in reversed(range(n)):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            cout = ch * ch_mult[L]
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(cur + skips.pop(), cout, temb_ch, groups, dropout))
                cur = cout
                if res in self.attn_resolutions:
                    attns.append(AttnBlock(cur, groups))
            level = nn.Module()
            level.block, level.attn = blocks, attns
            if L != 0:
                level.upsample = Upsample(cur)
                res *= 2
            ups[L] = level
        self.up = nn.ModuleList(ups)  # indexed by level: up.0 is full resolution

        self.norm_out = nn.GroupNorm(groups, cur, eps=GN_EPS)
        self.conv_out = nn.Conv2d(cur, out_ch, 3, stride=1, padding=1)

    def forward(self, x, t, labels=None):
        n = len(self.ch_mult)
        temb = timestep_embedding(t, self.ch, self.conv_in.weight.dtype)
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](temb)))
        if self.num_classes > 0:
            if labels is None:
                labels = torch.full((x.shape[0],), self.num_classes, dtype=torch.long)
            temb = temb + self.label_emb(labels)

        hs = [self.conv_in(x)]
        for L in range(n):
            for i in range(self.num_res_blocks):
                h = self.down[L].block[i](hs[-1], temb)
                if len(self.down[L].attn) > 0:
                    h = self.down[L].attn[i](h)
                hs.append(h)
            if L != n - 1:
                hs.append(self.down[L].downsample(hs[-1]))

        h = hs[-1]
        h = self.mid.block_1(h, temb)
        h = self.mid.attn_1(h)
        h = self.mid.block_2(h, temb)
        if self.head_kind == 1:
            return self.head(F.silu(self.norm_out(h)).mean(dim=(2, 3)))

        for L in reversed(range(n)):
            for i in range(self.num_res_blocks + 1):
                h = self.up[L].block[i](torch.cat([h, hs.pop()], dim=1), temb)
                if len(self.up[L].attn) > 0:
                    h = self.up[L].attn[i](h)
            if L != 0:
                h = self.up[L].upsample(h)

        return self.conv_out(F.silu(self.norm_out(h)))


if __name__ == "__main__":
    net = UNet()
    print(sum(p.numel() for p in net.parameters()))
