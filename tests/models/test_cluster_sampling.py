"""The unconditional face of a self-conditioned generator: the latent's last coordinate picks the cluster, as
often as the cluster's share, and the rest is G's own latent."""

import torch
from torch import nn

from ganforge.models.clusters import ClusterSampled, draw_clusters, sampling_generator, trained_generator


class Echo(nn.Module):
    """Returns its latent and its label side by side, to see what the wrapper passed."""

    num_classes = 3

    def forward(self, z, y):
        return torch.cat([z, y[:, None].float()], 1)


def test_the_last_coordinate_picks_clusters_in_their_shares():
    shares = [0.5, 0.3, 0.2]
    g = ClusterSampled(Echo(), shares)
    z = torch.randn(200_000, 5, generator=torch.Generator().manual_seed(0))
    out = g(z)
    assert torch.equal(out[:, :4], z[:, :4])  # G gets the other coordinates untouched
    freq = torch.bincount(out[:, 4].long(), minlength=3).double() / len(z)
    assert torch.allclose(freq, torch.tensor(shares, dtype=torch.float64), atol=0.005)
    # the slices are in order along the coordinate: a low value is cluster 0, a high one the last
    assert g.clusters(torch.tensor([-3.0, 0.0, 0.6, 3.0])).tolist() == [0, 0, 1, 2]


def test_the_wrapper_holds_only_gs_weights_and_hides_its_classes():
    inner = nn.Linear(2, 2)
    inner.num_classes = 4
    g = sampling_generator(inner, [0.25] * 4)
    assert list(g.state_dict()) == ["inner.weight", "inner.bias"]  # the shares are config, not weights
    assert trained_generator(g) is inner and getattr(g, "num_classes", None) is None
    assert sampling_generator(inner, None) is inner and trained_generator(inner) is inner


def test_drawn_clusters_follow_the_shares():
    y = draw_clusters([0.7, 0.0, 0.3], 50_000, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(y, minlength=3).double() / len(y)
    assert freq[1] == 0 and abs(freq[0] - 0.7) < 0.01
