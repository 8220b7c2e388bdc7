"""Lesson 08: the claims the notebook makes, asserted on the lesson module's functions."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import multi_head as lesson

STRENGTH = 3.5


def test_the_example_is_built_as_described():
    ex = lesson.two_relations_example(STRENGTH)
    assert ex.x.shape == (8, 16) and all(w.shape == (16, 16) for w in (ex.w_q, ex.w_k, ex.w_v, ex.w_o))
    np.testing.assert_array_equal(ex.x[:, :8], np.eye(8))                    # position one-hot
    assert np.all(ex.x[:, 8:].sum(axis=1) == 1)                               # one word type each
    np.testing.assert_array_equal(ex.w_v, np.eye(16))
    np.testing.assert_array_equal(ex.w_o, np.eye(16))


def test_one_head_splits_it_between_its_previous_word_and_its_noun():
    c = lesson.compare_one_and_two_heads()
    row = c.row("it")["one head"]
    because, bird = c.tokens.index("because"), c.tokens.index("bird")
    # both keys score strength^2 / sqrt(16), the other six score 0: softmax by hand
    e = math.exp(STRENGTH ** 2 / 4)
    assert row[because] == pytest.approx(e / (2 * e + 6)) and row[bird] == pytest.approx(e / (2 * e + 6))
    assert round(row[because], 2) == round(row[bird], 2) == 0.44                 # the notebook's numbers


def test_two_heads_each_keep_one_relation_sharply():
    c = lesson.compare_one_and_two_heads()
    rows = c.row("it")
    e = math.exp(STRENGTH ** 2 / math.sqrt(8))                                    # one key scores s^2 / sqrt(8)
    assert c.tokens[int(np.argmax(rows["head 0"]))] == "because"
    assert c.tokens[int(np.argmax(rows["head 1"]))] == "bird"
    for name in ("head 0", "head 1"):
        assert rows[name].max() == pytest.approx(e / (e + 7))
        assert round(rows[name].max(), 2) == 0.92


def test_at_the_one_heads_divisor_two_heads_still_give_each_relation_more_than_half():
    c = lesson.compare_one_and_two_heads()
    it, because, bird = (c.tokens.index(t) for t in ("it", "because", "bird"))
    e = math.exp(STRENGTH ** 2 / 4)                                               # s^2 / sqrt(16)
    assert c.two_heads_same_scale[0, it, because] == pytest.approx(e / (e + 7))
    assert c.two_heads_same_scale[1, it, bird] == pytest.approx(e / (e + 7))
    assert round(float(c.two_heads_same_scale[0, it, because]), 2) == 0.75        # the notebook's number
    assert c.one_head[0, it, because] + c.one_head[0, it, bird] <= 1              # one head: they share one 1


def test_head_0_is_the_previous_word_for_every_token():
    c = lesson.compare_one_and_two_heads()
    assert [int(np.argmax(r)) for r in c.two_heads[0]] == [0, 0, 1, 2, 3, 4, 5, 6]


def test_the_one_head_output_blends_both_while_two_heads_keep_them_apart():
    c = lesson.compare_one_and_two_heads()
    it = c.tokens.index("it")
    one, two = c.output_one[it], c.output_two[it]
    because, bird = c.tokens.index("because"), c.tokens.index("bird")
    noun, conjunction = 8 + lesson.FEATURES.index("noun"), 8 + lesson.FEATURES.index("conjunction")
    assert one[because] == pytest.approx(one[bird]) and one[noun] == pytest.approx(one[conjunction])
    assert two[because] > 0.9 and two[bird] < 0.05                            # position half: the previous word
    assert two[noun] > 0.9 and two[conjunction] < 0.05                        # word-type half: the noun
    assert "'because' 0.92" in lesson.read_output(two) and "noun 0.92" in lesson.read_output(two)


def test_one_head_scores_are_the_sum_of_the_two_heads_scores():
    ex = lesson.two_relations_example()
    q, k = ex.x @ ex.w_q, ex.x @ ex.w_k
    np.testing.assert_allclose(q @ k.T, q[:, :8] @ k[:, :8].T + q[:, 8:] @ k[:, 8:].T)


def test_a_head_of_the_walkthrough_is_attention_on_its_own_columns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8))
    w_q, w_k, w_v, w_o = (rng.standard_normal((8, 8)) / np.sqrt(8) for _ in range(4))
    _, weights = ac.multi_head_attention(x, x, x, w_q, w_k, w_v, w_o, num_heads=2)
    _, head1 = ac.scaled_dot_product_attention((x @ w_q)[0, :, 4:], (x @ w_k)[0, :, 4:], (x @ w_v)[0, :, 4:])
    np.testing.assert_allclose(weights[0, 1], head1)


def test_the_skipped_transpose_gives_heads_tokens_instead_of_columns():
    demo = lesson.transpose_demo(n=4, d_model=6, num_heads=2)
    assert demo.right.shape == demo.wrong.shape == (2, 4, 3)
    assert demo.rows_by_token("right") == [[[0], [1], [2], [3]]] * 2             # every head has every token
    assert demo.rows_by_token("wrong") == [[[0], [0], [1], [1]], [[2], [2], [3], [3]]]
    np.testing.assert_array_equal(demo.wrong[0, 1], [3, 4, 5])                # "row 1": token 0's second half
    assert "head 0: rows from tokens 0 0 1 1" in demo.summary()


def test_transpose_demo_rejects_sizes_it_cannot_draw():
    with pytest.raises(ValueError, match="transpose_demo"):
        lesson.transpose_demo(d_model=12, num_heads=2)


def test_parameters_and_matmul_flops_do_not_depend_on_the_number_of_heads():
    costs = lesson.head_costs(d_model=64, n=16, heads=(1, 2, 4, 8, 16))
    assert {c.parameters for c in costs} == {4 * 64 * 64 + 4 * 64}
    assert {c.matmul_flops for c in costs} == {4 * 2 * 16 * 64 * 64 + 2 * 2 * 16 * 16 * 64}
    assert [c.d_head for c in costs] == [64, 32, 16, 8, 4]
    assert [c.softmax_entries for c in costs] == [h * 16 * 16 for h in (1, 2, 4, 8, 16)]
    assert "16,640" in lesson.cost_table(costs)


def test_the_flop_count_equals_pytorchs_flop_counter():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    for h in (1, 4):
        (cost,) = lesson.head_costs(d_model=32, n=8, heads=(h,), batch=2)
        x = torch.randn(2, 8, 32)
        ws = [torch.randn(32, 32) for _ in range(4)]
        with FlopCounterMode(display=False) as counter:
            ac.multi_head_attention(x, x, x, *ws, h)
        assert cost.matmul_flops == counter.get_total_flops()


def test_the_package_equals_torch_multihead_attention_with_per_head_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True).eval()
    ours = ac.MultiHeadAttention.from_torch(theirs)
    assert torch.equal(ours.w_q, theirs.in_proj_weight[:8].T)
    x = torch.randn(2, 5, 8)
    key_padding_mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        out_t, w_t = theirs(x, x, x, key_padding_mask=key_padding_mask, average_attn_weights=False)
        out_o, w_o = ours(x, x, x, mask=~key_padding_mask[:, None, :])
        _, w_default = theirs(x, x, x, key_padding_mask=key_padding_mask)
    assert w_t.shape == w_o.shape == (2, 2, 5, 5) and w_default.shape == (2, 5, 5)
    torch.testing.assert_close(out_o, out_t, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w_o, w_t, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w_default, w_o.mean(dim=1), atol=1e-6, rtol=1e-5)


def test_the_explorers_h_sweeps_show_what_the_notebook_says():
    patterns = lesson.head_patterns()
    assert {h: w.shape for h, w in patterns.items()} == {h: (h, 8, 8) for h in (1, 2, 4, 8)}
    w4 = patterns[4]
    prev = [0, 0, 1, 2, 3, 4, 5, 6]
    # h = 4: head 0 knows the previous word of the first words, head 1 of the last ones
    assert [int(np.argmax(w4[0, i])) == prev[i] and w4[0, i].max() > 0.9 for i in range(5)] == [True] * 5
    assert all(int(np.argmax(w4[1, i])) == prev[i] and w4[1, i].max() > 0.9 for i in range(5, 8))
    np.testing.assert_allclose(w4[0, 5:], 1 / 8)                           # uniform for the rest
    it, sang, bird = 4, 2, 1
    assert w4[2, it, bird] > 0.9 and w4[2, sang, bird] > 0.9                 # head 2: pronoun/verb -> noun
    np.testing.assert_allclose(w4[3], 1 / 8)                               # head 3: uniform everywhere


def test_the_head_strip_puts_each_head_in_its_own_block_and_leaves_the_rest_blank():
    patterns = lesson.head_patterns()
    strip = lesson.head_strip(patterns[2])
    assert strip.shape == (8, 8 * 9 - 1)
    np.testing.assert_array_equal(strip[:, 0:8], patterns[2][0])
    np.testing.assert_array_equal(strip[:, 9:17], patterns[2][1])
    assert np.isnan(strip[:, 8]).all() and np.isnan(strip[:, 18:]).all()


def test_the_explorer_moves_to_every_setting_and_says_d_head():
    explorer = lesson.head_explorer(h=2, head=0, token="it")
    assert "head 0, query 4 'it': 'because' 0.92" in explorer.text
    explorer.check_extremes()
    for h in lesson.HEAD_CHOICES:
        explorer.set(h=h, head=0, token=0)
        if h > 1:
            assert f"h = {h} heads of d_head = 16 / {h} = {16 // h} columns each" in explorer.text
        else:
            assert "h = 1 head of d_head = 16 / 1 = 16 columns;" in explorer.text
        assert explorer.state["unused"].get_visible() == (h < 8)
        assert "parameters stay 4 x 16 x 16 = 1024" in explorer.text
    explorer.set(h=2, head=7)
    assert "there is no head 7 with h = 2: showing head 1" in explorer.text
    assert "head 1, query 0 'the'" in explorer.text
    bundle = explorer._repr_mimebundle_()
    assert "data:image/png;base64," in bundle["text/html"] and "h = 2" in bundle["text/plain"]


def test_the_quiz_numbers_agree_with_the_lesson():
    quiz = json.loads((Path(ac.__file__).parent / "quizzes" / "08_multi_head.json").read_text())
    assert quiz["questions"][0]["answer"] == 512 // 8
    assert ac.quiz.load("08_multi_head").answer(0, 64).correct
    assert not ac.quiz.load("08_multi_head").answer(0, 512).correct
    costs = lesson.head_costs(d_model=64, n=16, heads=(1, 8))
    assert "16,640" in json.dumps(quiz) and costs[0].parameters == 16_640
