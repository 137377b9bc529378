"""RTN quantisation (audit/quantize.py): at most half a step per weight, grid points stay put,
and a forgetting hidden below half a step comes back at 4 bits but not at 8."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_core.audit.quantize import (
    quantization_recovery,
    quantize_model,
    quantized_accuracies,
    rtn,
    step,
)


def _linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(12, 5)


def test_int8_moves_each_weight_by_at_most_half_a_step_per_channel_and_per_tensor():
    lin = _linear()
    before = lin.weight.detach().clone()
    for per_channel in (True, False):
        q = quantize_model(lin, 8, per_channel)
        s = step(before, 8, per_channel)
        assert s.shape == ((5, 1) if per_channel else ())
        diff = (q.weight - before).abs()
        assert bool((diff <= s / 2 * (1 + 1e-6)).all())
        assert bool((diff > 0).any())  # it did quantise
        assert torch.equal(q.bias, lin.bias)  # biases stay in full precision
        # every row on its grid: at most 255 levels, the largest |w| kept exactly
        levels = torch.round(q.weight / s)
        assert bool((levels.abs() <= 127).all())
        assert torch.allclose(q.weight.abs().amax(), before.abs().amax())
    assert torch.equal(lin.weight, before)  # the model given is not changed


def test_four_bit_leaves_weights_already_on_the_grid_unchanged():
    torch.manual_seed(1)
    lin = nn.Linear(6, 4)
    k = torch.randint(-7, 8, (4, 6)).float()
    k[:, 0] = 7.0  # every row reaches the grid's end, so its step is exactly 0.25
    with torch.no_grad():
        lin.weight.copy_(0.25 * k)
    q = quantize_model(nn.Sequential(lin, nn.ReLU(), nn.Linear(4, 2)), 4)
    assert torch.equal(q[0].weight, lin.weight)
    # a weight off the grid does move, to the nearest point (0.3 -> 0.25, 0.4 -> 0.5)
    w = torch.tensor([[1.75, 0.3, 0.4, -0.3]])
    assert torch.equal(rtn(w, 4), torch.tensor([[1.75, 0.25, 0.5, -0.25]]))
    # an all-zero channel stays zero; a conv weight gets one step per output filter
    assert torch.equal(rtn(torch.zeros(2, 3), 4), torch.zeros(2, 3))
    assert step(torch.ones(3, 2, 5, 5), 4).shape == (3, 1, 1, 1)


def test_a_forgetting_below_half_a_step_comes_back_at_four_bits():
    # class-0 samples x = (1, 0.95). Original head: diag(1.75, 1.75) (on the 4-bit grid, step
    # 0.25): class 0 wins. "Unlearned": +0.12 on W[1, 0], under half a step, so class 1 wins.
    x = torch.tensor([[1.0, 0.95]] * 4)
    y = torch.zeros(4, dtype=torch.long)

    def head(w):
        lin = nn.Linear(2, 2)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.zero_()
        return lin

    unlearned = head([[1.75, 0.0], [0.12, 1.75]])
    retrained = head([[1.0, 0.0], [0.0, 1.75]])  # never learned class 0 this well
    rec = quantization_recovery([unlearned], [retrained], (x, y), retain=(x, y))
    assert rec.forget_acc(None) == 0.0  # forgotten at full precision
    assert rec.forget_acc(8) == 0.0  # int8's step (1.75 / 127) keeps the 0.12
    assert rec.forget_acc(4) == 100.0  # 4-bit rounds it away: the class is back
    assert [rec.forget_acc(b, "retrained") for b in (None, 8, 4)] == [0.0, 0.0, 0.0]
    assert rec.unlearned["int4"].forget_accs == [100.0]
    assert quantized_accuracies(unlearned, x, y) == {"full": 0.0, "int8": 0.0, "int4": 100.0}
    assert rec.unlearned["full"].retain_acc == 0.0
    import json

    assert type(rec).from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    assert "per output channel" in rec.scheme and set(rec.to_dict()) == {
        "scheme",
        "unlearned",
        "retrained",
    }
