import numpy as np
import torch

from rnnlab.batching import BUCKET_POOL, batches, bucketed_order


def test_bucketed_batches_cover_every_example_once_and_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=3000).tolist()
    groups = bucketed_order(lengths, 16, torch.Generator().manual_seed(1))
    seen = torch.cat(groups).tolist()
    assert sorted(seen) == list(range(3000))
    # within a batch the lengths are close: far less spread than random batches
    spread = np.mean([max(lengths[i] for i in g) - min(lengths[i] for i in g) for g in map(torch.Tensor.tolist, groups)])
    assert spread < 0.1 * (max(lengths) - min(lengths))
    assert len(groups) == 3 * BUCKET_POOL + 38  # 3 full pools of 50 batches, then 600 rows in 38 batches


def test_bucketed_order_is_seeded():
    lengths = list(range(1, 200))
    a = bucketed_order(lengths, 8, torch.Generator().manual_seed(3))
    b = bucketed_order(lengths, 8, torch.Generator().manual_seed(3))
    c = bucketed_order(lengths, 8, torch.Generator().manual_seed(4))
    assert [x.tolist() for x in a] == [x.tolist() for x in b] != [x.tolist() for x in c]


def test_bucketed_batches_pad_only_to_the_batch_longest():
    seqs = [[1] * n for n in range(1, 101)]
    labels = np.zeros(100, dtype=np.int64)
    widths = [t.shape[1] - int(n.min()) for t, n, _ in batches(seqs, labels, 10, None, torch.Generator().manual_seed(0), True)]
    assert max(widths) <= 9  # 10 consecutive lengths per batch after sorting
