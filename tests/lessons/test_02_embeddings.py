"""Lesson 02 (embeddings): the toy table, cosine similarity, neighbours and the SVD map."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import embeddings as em


@pytest.fixture
def table():
    return em.toy_table()


def test_table_shape_and_range(table):
    assert table.vectors.shape == (len(table.words), len(em.FEATURES))
    assert np.all(np.abs(table.vectors) <= 1)
    assert not table.vectors.flags.writeable


def test_cosine_basic_geometry():
    assert em.cosine_similarity([1, 0], [0, 3]) == pytest.approx(0.0)
    assert em.cosine_similarity([1, 2], [2, 4]) == pytest.approx(1.0)
    assert em.cosine_similarity([1, 2], [-1, -2]) == pytest.approx(-1.0)
    assert em.cosine_similarity([1, 1], [1, 0]) == pytest.approx(1 / np.sqrt(2))


def test_cosine_ignores_length_but_dot_does_not():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(6), rng.standard_normal(6)
    assert em.cosine_similarity(5 * a, b) == pytest.approx(em.cosine_similarity(a, b))
    assert em.dot(5 * a, b) == pytest.approx(5 * em.dot(a, b))
    assert em.dot(a, b) == pytest.approx(float(a @ b))


def test_cosine_matrix_agrees_with_pairwise(table):
    m = em.cosine_matrix(table.vectors)
    assert m.shape == (len(table.words),) * 2
    np.testing.assert_allclose(np.diag(m), 1.0)
    i, j = table.index("cat"), table.index("bus")
    assert m[i, j] == pytest.approx(em.cosine_similarity(table.vector("cat"), table.vector("bus")))


def test_neighbours_follow_the_features(table):
    assert [w for w, _ in em.nearest_neighbours(table, "kitten", k=2)] == ["cat", "dog"]
    assert em.nearest_neighbours(table, "car", k=1)[0][0] == "bus"
    assert em.nearest_neighbours(table, "apple", k=1)[0][0] in {"bread", "cheese"}
    sims = [s for _, s in em.nearest_neighbours(table, "wolf", k=5)]
    assert sims == sorted(sims, reverse=True)
    assert "wolf" not in [w for w, _ in em.nearest_neighbours(table, "wolf", k=14)]


def test_king_and_queen_are_indistinguishable(table):
    # none of our features says what differs: the lesson makes this point
    assert em.cosine_similarity(table.vector("king"), table.vector("queen")) == pytest.approx(1.0)


def test_moving_a_word_changes_its_neighbours(table):
    moved = table.vector("cat")
    moved[em.FEATURES.index("machine")] = 1.0
    moved[em.FEATURES.index("alive")] = 0.0
    assert em.nearest_neighbours(table, "cat", k=1, vector=moved)[0][0] in {"car", "bus", "bicycle"}
    assert em.nearest_neighbours(table, "cat", k=1)[0][0] == "kitten"   # the table itself is unchanged


def test_dot_and_cosine_rankings_can_differ():
    # a long vector wins by dot product even when its direction is worse
    t = em.EmbeddingTable(("q", "close", "long"), np.array([[1.0, 0.0], [0.9, 0.1], [3.0, 3.0]]), ("x", "y"))
    assert em.nearest_neighbours(t, "q", k=1, measure="cosine")[0][0] == "close"
    assert em.nearest_neighbours(t, "q", k=1, measure="dot")[0][0] == "long"


def test_projection_axes_are_orthonormal_and_ordered(table):
    coords, proj = em.project_2d(table.vectors)
    assert coords.shape == (len(table.words), 2)
    np.testing.assert_allclose(proj.axes @ proj.axes.T, np.eye(2), atol=1e-12)
    assert proj.explained[0] >= proj.explained[1] > 0
    np.testing.assert_allclose(coords.mean(axis=0), 0.0, atol=1e-12)
    assert np.var(coords[:, 0]) >= np.var(coords[:, 1])


def test_projection_keeps_all_of_a_planar_cloud():
    rng = np.random.default_rng(1)
    plane = rng.standard_normal((2, 5))
    points = rng.standard_normal((20, 2)) @ plane + 3.0
    coords, proj = em.project_2d(points)
    assert proj.explained.sum() == pytest.approx(1.0)
    # distances survive exactly when the cloud lies in a plane
    d_orig = np.linalg.norm(points[:, None] - points[None], axis=-1)
    d_map = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d_map, d_orig, atol=1e-10)


def test_projection_places_new_points_on_the_old_map(table):
    coords, proj = em.project_2d(table.vectors)
    np.testing.assert_allclose(proj.transform(table.vector("lion")), coords[table.index("lion")])
    moved = table.with_vector("lion", table.vector("bus"))
    np.testing.assert_allclose(proj.transform(moved.vector("lion")), coords[table.index("bus")])


def test_similar_words_land_near_each_other(table):
    coords, _ = em.project_2d(table.vectors)
    d = lambda a, b: np.linalg.norm(coords[table.index(a)] - coords[table.index(b)])
    assert d("car", "bus") < d("car", "kitten")
    assert d("apple", "cheese") < d("apple", "king")


def test_with_vector_leaves_the_original_alone(table):
    new = table.with_vector("dog", np.zeros(len(em.FEATURES)))
    assert np.all(new.vector("dog") == 0) and np.any(table.vector("dog") != 0)


@pytest.mark.parametrize("call, match", [
    (lambda: em.cosine_similarity([0, 0], [1, 2]), "zero vector"),
    (lambda: em.cosine_similarity([1, 2, 3], [1, 2]), "same length"),
    (lambda: em.cosine_similarity([[1, 2]], [1, 2]), "1-D"),
    (lambda: em.nearest_neighbours(em.toy_table(), "cat", k=0), "k must"),
    (lambda: em.nearest_neighbours(em.toy_table(), "cat", measure="l2"), "measure"),
    (lambda: em.fit_projection(np.ones((1, 3))), "n >= 2"),
    (lambda: em.toy_table().with_vector("cat", [1, 2]), "shape"),
    (lambda: em.EmbeddingTable(("a", "b"), np.zeros((3, 2)), ("x", "y")), "n_words"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unknown_word_lists_the_vocabulary():
    with pytest.raises(KeyError, match="kitten"):
        em.toy_table().index("unicorn")


# ---------------------------------------------------------------- the exercise and the quiz

def _exercise():
    from attention_course import exercises
    return exercises


def test_exercise_reference_agrees_with_the_package():
    from attention_course.exercises.cosine_similarity import cosine_similarity as reference
    rng = np.random.default_rng(7)
    for _ in range(5):
        a, b = rng.normal(size=4), rng.normal(size=4)
        assert reference(a, b) == pytest.approx(em.cosine_similarity(a, b))


def test_exercise_passes_a_correct_solution_written_differently():
    def learner(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    report = _exercise().check("cosine_similarity", learner)
    assert report.passed, report.hints


def test_exercise_passes_the_package_function():
    assert _exercise().check("cosine_similarity", em.cosine_similarity).passed


@pytest.mark.parametrize("learner, phrase", [
    (lambda a, b: a @ b, "dot product"),
    (lambda a, b: a @ b / np.linalg.norm(a), "|a| only"),
    (lambda a, b: a @ b / np.linalg.norm(b), "|b| only"),
    (lambda a, b: a @ b / ((a @ a) * (b @ b)), "squared lengths"),
    (lambda a, b: a @ b / (np.linalg.norm(a) + np.linalg.norm(b)), "|a| + |b|"),
    (lambda a, b: a @ b / (a.sum() * b.sum()), "sum(a) * sum(b)"),
    (lambda a, b: np.linalg.norm(a - b), "distance"),
])
def test_exercise_names_each_mistake(learner, phrase):
    report = _exercise().check("cosine_similarity", learner)
    assert not report.passed
    assert any(phrase in hint for hint in report.hints), report.hints


def test_exercise_stub_gets_a_friendly_report():
    def learner(a, b):
        raise NotImplementedError
    report = _exercise().check("cosine_similarity", learner)
    assert not report.passed and report.status == "not done"


def test_exercise_solution_is_available():
    assert "def cosine_similarity" in str(_exercise().solution("cosine_similarity"))


def _option(bank, question, fragment):
    """The index of the one option of ``question`` whose text contains ``fragment``."""
    (i,) = [i for i, opt in enumerate(bank.questions[question].options) if fragment in opt.text]
    return i


def test_quiz_numbers_come_from_the_package():
    from attention_course import quiz
    bank = quiz.load("02_embeddings")
    assert bank.answer(0, em.cosine_similarity([1, 2, 2], [2, 0, 1])).correct
    assert not bank.answer(0, em.dot([1, 2, 2], [2, 0, 1])).correct
    fb = bank.answer(0, 4 / 3)
    assert not fb.correct and "|a| only" in fb.explanation
    # Q2: scaling dog leaves its cosine with cat unchanged
    t = em.toy_table()
    same = em.cosine_similarity(2 * t.vector("dog"), t.vector("cat")) == pytest.approx(
        em.cosine_similarity(t.vector("dog"), t.vector("cat")))
    assert same and bank.answer(1, _option(bank, 1, "stays the same")).correct
    assert not bank.answer(1, _option(bank, 1, "doubles")).correct
    # Q3: king and queen really are identical directions in the table
    assert em.cosine_similarity(t.vector("king"), t.vector("queen")) == pytest.approx(1.0)
    assert bank.answer(2, _option(bank, 2, "None of our six features")).correct
    # Q4: the map really loses variance and its axes really mix features
    _, proj = em.project_2d(t.vectors)
    assert proj.explained.sum() < 0.9
    assert np.sum(np.abs(proj.axes[0]) > 0.1) >= 2
    right = [_option(bank, 3, "vary most"), _option(bank, 3, "look close on the map")]
    assert bank.answer(3, right).correct
    assert not bank.answer(3, right + [_option(bank, 3, "keeps all the information")]).correct


def test_quiz_right_answers_are_not_all_at_one_letter():
    from attention_course import quiz
    bank = quiz.load("02_embeddings")
    firsts = [min(i for i, opt in enumerate(q.options) if opt.correct) for q in bank.questions if q.kind != "numeric"]
    assert len(set(firsts)) >= 3, firsts


# ---------------------------------------------------------------- the widget

def test_feature_explorer_moves_the_word_and_its_neighbours(table):
    explorer = em.feature_explorer(table, word="cat")
    assert "nearest by cosine: kitten" in explorer.text
    explorer.set(alive=0.0, machine=1.0)
    assert "nearest by cosine: bicycle" in explorer.text or "nearest by cosine: car" in explorer.text
    word_map, bars = explorer.state
    x_after, x_before = word_map.marker.get_xdata()[0], word_map.ring.get_xdata()[0]
    assert x_after != pytest.approx(x_before)
    assert bars.values[table.index("bicycle")] == pytest.approx(0.9, abs=0.01)


def test_picking_a_word_loads_its_features(table):
    explorer = em.feature_explorer(table, word="cat")
    explorer.set(size=1.0)
    explorer.set(word="bus")
    assert explorer.values["size"] == pytest.approx(table.vector("bus")[em.FEATURES.index("size")])
    assert explorer.text.startswith("bus = ") and "cosine with its original vector 1.00" in explorer.text


def test_feature_explorer_survives_the_zero_vector_and_the_corners(table):
    explorer = em.feature_explorer(table, word="king")
    explorer.set(**{name: 0.0 for name in em.FEATURES})
    assert "zero vector" in explorer.text
    assert len(explorer.check_extremes()) == 2 ** len(em.FEATURES)


def test_table_text_has_every_word_and_value(table):
    text = table.to_text()
    lines = text.splitlines()
    assert len(lines) == 1 + len(table.words)
    assert all(f in lines[0] for f in em.FEATURES)
    assert lines[table.index("bus") + 1].split() == ["bus"] + [f"{x:.2f}" for x in table.vector("bus")]


# ---------------------------------------------------------------- the lookup table

def test_a_lookup_is_an_index_a_one_hot_product_and_nn_embedding(table):
    torch = pytest.importorskip("torch")
    ids = table.ids(["cat", "dog", "bus", "cat"])
    np.testing.assert_array_equal(ids, [table.index(w) for w in ("cat", "dog", "bus", "cat")])
    rows = table.vectors[ids]
    one_hot = em.one_hot(ids, len(table.words))
    assert one_hot.shape == (4, len(table.words)) and np.all(one_hot.sum(axis=1) == 1)
    np.testing.assert_array_equal(one_hot @ table.vectors, rows)
    embedding = em.torch_embedding(table)
    assert isinstance(embedding, torch.nn.Embedding) and embedding.weight.requires_grad
    looked_up = embedding(torch.tensor(ids))
    assert torch.equal(looked_up, torch.tensor(rows))
    looked_up.sum().backward()
    touched = torch.nonzero(embedding.weight.grad.abs().sum(dim=1)).flatten().tolist()
    assert touched == sorted(set(ids.tolist()))                # only the rows that were read
    assert embedding.weight.grad[table.index("cat")].sum().item() == pytest.approx(2 * len(em.FEATURES))


def test_one_hot_refuses_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match="ids"):
        em.one_hot([0, 15], 15)
    with pytest.raises(ValueError, match="ids"):
        em.one_hot([0.5], 15)


def test_e_e_transpose_holds_every_dot_product(table):
    scores = table.vectors @ table.vectors.T
    i, j = table.index("cat"), table.index("dog")
    assert scores[i, j] == pytest.approx(em.dot(table.vector("cat"), table.vector("dog")))
    np.testing.assert_allclose(scores, scores.T)


# ---------------------------------------------------------------- what the notebook says about its figures

GROUPS = [("kitten", "cat", "dog", "mouse"), ("wolf", "lion"), ("king", "queen", "crown"),
          ("apple", "bread", "cheese"), ("bicycle", "car", "bus")]


def test_the_groups_are_blocks_of_high_cosine(table):
    m = em.cosine_matrix(table.vectors)
    group = {w: g for g, words in enumerate(GROUPS) for w in words}
    same = [m[i, j] for i, a in enumerate(table.words) for j, b in enumerate(table.words)
            if i != j and group[a] == group[b]]
    other = [m[i, j] for i, a in enumerate(table.words) for j, b in enumerate(table.words) if group[a] != group[b]]
    assert min(same) > 0.5 and np.mean(same) > 0.8 and np.mean(other) < 0.2
    assert np.mean(same) > max(other)                      # blocks: each group is closer than any cross pair


def test_the_map_caption_describes_the_map(table):
    coords, proj = em.project_2d(table.vectors)
    at = {w: coords[table.index(w)] for w in table.words}
    assert 0.6 < proj.explained.sum() < 0.7                                         # "about two thirds"
    assert em.describe_axis(proj, table.features, 0).split(", ")[0].endswith("size")
    assert "machine" in em.describe_axis(proj, table.features, 0)
    axis2 = em.describe_axis(proj, table.features, 1)
    assert axis2.startswith("+0.70 alive") and "-0.42 food" in axis2
    assert all(at[w][0] > 0 and at[w][1] < 0 for w in ("bicycle", "car", "bus"))      # low on the right
    assert all(at[w][0] < 0 and at[w][1] < 0 for w in ("apple", "bread", "cheese"))   # low on the left
    assert all(at[w][0] < 0 and -0.1 < at[w][1] < 0.4 for w in ("kitten", "cat", "mouse", "dog"))
    assert min(at["wolf"][1], at["lion"][1]) > max(at[w][1] for w in ("kitten", "cat", "mouse", "dog"))
    on_map = np.argsort(np.linalg.norm(coords - at["crown"], axis=1))[1:3]
    assert {table.words[j] for j in on_map} == {"dog", "cat"}
    assert [w for w, _ in em.nearest_neighbours(table, "crown", k=2)] == ["king", "queen"]


def test_the_map_axes_say_how_much_variance_they_keep(table):
    _, ax, _, proj = em.plot_map(table)
    assert ax.get_xlabel().startswith(f"map axis 1: {proj.explained[0]:.0%} of the variance")
    assert ax.get_ylabel().startswith(f"map axis 2: {proj.explained[1]:.0%} of the variance")


def test_reset_puts_the_current_word_back(table):
    explorer = em.feature_explorer(table, word="cat")
    explorer.set(alive=0.0, machine=1.0)
    explorer.reset_button.click()
    assert explorer.values == {"word": "cat", **dict(zip(em.FEATURES, table.vector("cat")))}
    assert "cosine with its original vector 1.00" in explorer.text
    explorer.set(word="king")
    explorer.set(royal=-1.0, size=1.0)
    explorer.reset()
    assert explorer.values["word"] == "king"
    np.testing.assert_allclose([explorer.values[f] for f in em.FEATURES], table.vector("king"))


def test_the_moved_word_stays_on_the_map_and_links_its_neighbours(table):
    explorer = em.feature_explorer(table, word="cat")
    word_map, _ = explorer.state
    (x0, x1), (y0, y1) = word_map.ax.get_xlim(), word_map.ax.get_ylim()
    _, projection = em.project_2d(table.vectors)
    beyond = 0
    for corner in explorer.check_extremes():
        explorer.set(**corner["values"])
        x, y = (v[0] for v in word_map.marker.get_data())
        assert x0 <= x <= x1 and y0 <= y <= y1, corner["values"]
        px, py = projection.transform(explorer_vector(explorer))
        outside = not (x0 <= px <= x1 and y0 <= py <= y1)
        assert ("beyond the map's edge" in explorer.text) == outside
        beyond += outside
    assert 0 < beyond < 64                                  # some corners leave the map, some do not
    explorer.set(alive=0.0, machine=1.0)
    linked = [table.words[j] for j in word_map.linked]
    assert linked == [w for w, _ in em.nearest_neighbours(table, "cat", k=3, vector=explorer_vector(explorer))]


def explorer_vector(explorer):
    return np.array([explorer.values[f] for f in em.FEATURES])


def test_quiz_lookup_question_matches_the_lookup(table):
    from attention_course import quiz
    ids = np.array([3, 3, 7])
    rows = em.one_hot(ids, len(table.words)) @ table.vectors
    assert rows.shape == (3, len(em.FEATURES)) and np.array_equal(rows, table.vectors[ids])
    scores = rows @ table.vectors.T                            # what Q5 asks for
    assert scores.shape == (3, len(table.words))
    np.testing.assert_allclose(scores, (table.vectors @ table.vectors.T)[ids])
    bank = quiz.load("02_embeddings")
    assert bank.answer(4, _option(bank, 4, "(3, 15)")).correct
    for wrong in ("(3, 6)", "(15, 15)", "(3, 3)"):
        assert not bank.answer(4, _option(bank, 4, wrong)).correct


# ---------------------------------------------------------------- claims the prose makes about this table

def test_each_group_is_one_block_on_the_diagonal(table):
    rows = [table.index(w) for group in GROUPS for w in group]
    assert rows == list(range(len(table.words)))              # the groups are consecutive rows, in this order


def test_crown_mouse_and_bicycle_join_their_groups_loosely(table):
    m = em.cosine_matrix(table.vectors)
    loose = {"crown", "mouse", "bicycle"}
    for group in GROUPS:
        for a in group:
            others = [m[table.index(a), table.index(b)] for b in group if b != a]
            if a in loose:
                assert min(others) < 0.8, a
            else:
                assert all(m[table.index(a), table.index(b)] >= 0.85 for b in group if b not in loose | {a}), a


def test_dog_ranks_kitten_first_by_dot_and_cat_by_cosine(table):
    lengths = {w: round(ac.norm(table.vector(w)), 2) for w in ("kitten", "cat", "dog")}
    assert lengths == {"kitten": 1.35, "cat": 1.11, "dog": 1.05}
    assert [w for w, _ in em.nearest_neighbours(table, "dog", k=2, measure="dot")] == ["kitten", "cat"]
    assert [w for w, _ in em.nearest_neighbours(table, "dog", k=2, measure="cosine")] == ["cat", "kitten"]
    # "only because its vector is longer": kitten points further from dog than cat does
    assert em.cosine_similarity(table.vector("kitten"), table.vector("dog")) < em.cosine_similarity(
        table.vector("cat"), table.vector("dog"))


def test_crowns_third_neighbour_is_the_mouse_through_size_alone(table):
    assert [w for w, _ in em.nearest_neighbours(table, "crown", k=3)] == ["king", "queen", "mouse"]
    shared = table.vector("crown") * table.vector("mouse")
    assert [f for f, x in zip(em.FEATURES, shared) if x != 0] == ["size"]


def test_the_two_dials_picture_shows_what_the_caption_says(table):
    columns = [em.FEATURES.index("wild"), em.FEATURES.index("size")]
    at = {w: table.vector(w)[columns] for w in em.DIAL_WORDS}
    assert all(at[w][0] < 0 and at[w][1] < 0 for w in ("kitten", "dog"))      # down and to the left
    assert all(at[w][0] > 0 and abs(at[w][1]) < at[w][0] for w in ("wolf", "lion"))  # to the right
    assert at["mouse"][1] < 0 and abs(at["mouse"][0]) < abs(at["mouse"][1]) and at["mouse"][0] > 0   # down
    fig = em.plot_two_dials(table)
    (ax,) = fig.axes
    assert ax.get_title() and "wild" in ax.get_xlabel() and "size" in ax.get_ylabel()


def test_the_selected_word_has_one_label_the_orange_one(table):
    explorer = em.feature_explorer(table, word="cat")
    word_map, _ = explorer.state
    def grey(w):
        return word_map.texts.strings[table.index(w)]
    assert word_map.marker_label.strings == ["cat"] and grey("cat") == "" and grey("dog") == "dog"
    explorer.set(machine=1.0)
    assert word_map.marker_label.strings == ["cat"] and grey("cat") == ""
    explorer.set(word="bus")
    assert word_map.marker_label.strings == ["bus"] and grey("bus") == "" and grey("cat") == "cat"
