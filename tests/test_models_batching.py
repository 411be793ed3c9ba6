import torch

from sparsepipe.data.reber import generate_reber, tensors_of
from sparsepipe.models.batching import bucketed_batches, length_batches


def _strings(n=500):
    t = tensors_of(generate_reber(n, 2, 20, seed=1), "train")
    return t.tokens, t.lengths, t.labels


def _rows(batch):
    tokens, lengths, _ = batch
    return [tuple(row[: int(n)].tolist()) for row, n in zip(tokens, lengths, strict=True)]


def test_every_string_once_with_its_own_length_and_label():
    tokens, lengths, labels = data = _strings()
    seen = []
    for batch in bucketed_batches(data, 32, torch.Generator().manual_seed(0)):
        t, n, y = batch
        assert t.shape[1] == int(n.max())  # cut to the batch's longest string
        assert (t[torch.arange(len(n)), n - 1] != 0).all()
        seen.extend(zip(_rows(batch), y.tolist(), strict=True))
    expected = [(tuple(row[: int(n)].tolist()), int(y)) for row, n, y in zip(tokens, lengths, labels, strict=True)]
    assert sorted(seen) == sorted(expected)


def test_seeded_shuffling_is_reproducible_and_changes_with_the_seed():
    data = _strings()
    first = [_rows(b) for b in bucketed_batches(data, 32, torch.Generator().manual_seed(0))]
    again = [_rows(b) for b in bucketed_batches(data, 32, torch.Generator().manual_seed(0))]
    other = [_rows(b) for b in bucketed_batches(data, 32, torch.Generator().manual_seed(1))]
    assert first == again and first != other


def test_batches_carry_little_padding():
    _, lengths, _ = _strings(2000)
    index = length_batches(lengths, 32, torch.Generator().manual_seed(0), pool=16)
    padded = sum(int(lengths[i].max()) * len(i) for i in index)
    random = sum(int(lengths[i].max()) * len(i) for i in torch.randperm(len(lengths)).split(32))
    assert padded < 1.1 * int(lengths.sum()) < random


def test_without_a_generator_sorted_by_length_and_other_layouts_fall_back():
    data = _strings()
    maxima = [int(b[1].max()) for b in bucketed_batches(data, 64)]
    assert maxima == sorted(maxima)
    x, y = torch.randn(10, 3), torch.arange(10)
    assert [b[1].tolist() for b in bucketed_batches((x, y), 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
