"""numpy-drawn dropout: right distribution, same model, restored afterwards, reproducible training,
and nothing registered with transformers until a block needs it."""

import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from drscale.train._cpu.dropout import ATTENTION, GeneratorDropout, MaskSource, generator_dropout
from drscale.model.encoder import build_encoder
from drscale.model.tokens import TokenizedData, pad_batch
from drscale.train.loop import train
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=6, batch_size=8, negatives=16, warmup_steps=0, passage_max_length=32, query_max_length=16)


def padded_batch():
    """Three sequences of different lengths, so the attention mask really masks."""
    return pad_batch([np.array([101, *range(2000, 2000 + n), 102]) for n in (5, 17, 9)], 0)


def test_masks_keep_one_minus_p_scaled_by_its_inverse():
    mask = MaskSource(seed=3).scaled_keep_mask(torch.Size([400, 500]), 0.1, torch.float32)
    assert torch.unique(mask).tolist() == [0.0, pytest.approx(1 / 0.9)]
    kept = (mask > 0).float().mean().item()
    assert kept == pytest.approx(0.9, abs=0.003)  # 200,000 draws: sd 0.0007
    assert mask.mean().item() == pytest.approx(1.0, abs=0.004)  # dropout keeps the expectation


def test_masks_repeat_for_a_seed_and_change_with_it():
    shape = torch.Size([64, 32])
    a, b, c = (MaskSource(seed).scaled_keep_mask(shape, 0.1, torch.float32) for seed in (1, 1, 2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_masks_follow_the_activation_dtype():
    assert MaskSource(0).scaled_keep_mask(torch.Size([4, 4]), 0.5, torch.bfloat16).dtype == torch.bfloat16


def test_the_gradient_is_the_mask():
    layer = GeneratorDropout(0.3, MaskSource(5))
    x = torch.ones(50, 40, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # y = x * mask with x = 1
    assert torch.equal(layer.eval()(x), x)


def test_inside_the_block_the_encoder_computes_the_same_function():
    model = build_encoder("L2_H64", seed=0).eval()
    features = padded_batch()
    reference = model(dict(features))["sentence_embedding"]
    with generator_dropout(model, seed=0):
        torch.testing.assert_close(model(dict(features))["sentence_embedding"], reference, rtol=0, atol=0)
        model.train()
        for module in model.modules():
            if isinstance(module, GeneratorDropout):
                module.p = 1e-12  # the training path (eager attention, masks drawn) with nothing dropped
        torch.testing.assert_close(model(dict(features))["sentence_embedding"], reference, rtol=1e-5, atol=1e-6)


def test_the_block_swaps_every_dropout_and_restores_them_even_after_an_error():
    model = build_encoder("L2_H64", seed=0)
    bert = model[0].auto_model
    dropouts = [m for m in model.modules() if type(m) is nn.Dropout]
    with pytest.raises(RuntimeError, match="stop"):
        with generator_dropout(model, seed=0):
            assert bert.config._attn_implementation == ATTENTION
            assert not any(type(m) is nn.Dropout for m in model.modules())
            assert sum(isinstance(m, GeneratorDropout) for m in model.modules()) == len(dropouts) == 7
            raise RuntimeError("stop")
    assert bert.config._attn_implementation == "sdpa"
    assert [m for m in model.modules() if type(m) is nn.Dropout] == dropouts


@pytest.mark.slow  # a fresh interpreter importing torch and transformers
def test_importing_the_training_loop_registers_nothing_with_transformers():
    script = textwrap.dedent("""
        import drscale.train, drscale.train.loop
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface
        from drscale.train._cpu.dropout import ATTENTION
        print(ATTENTION in AttentionInterface(), ATTENTION in AttentionMaskInterface())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_training_with_numpy_masks_is_reproducible_and_differs_from_torch_masks(small_data):
    tokens = TokenizedData.build(small_data, build_encoder("L1_H16").tokenizer, 16, 32)
    pairs = small_data.train_pair_rows(seed=0)

    def losses(**option):
        model = build_encoder("L1_H16", seed=0)
        result = train(model, tokens, pairs, replace(TINY, **option), progress=False)
        assert not any(isinstance(m, GeneratorDropout) for m in model.modules())
        return result.losses

    fast = losses()
    assert fast == losses()
    assert fast != losses(fast_dropout=False)  # other masks
