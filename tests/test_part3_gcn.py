"""part3/gcn.py: Â by hand, its spectrum, dense/sparse agreement, equation 14, PyG, equivariance, errors."""
from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch

import part3.gcn as gcn
from part3.gcn import GCN, GCNLayer, normalized_adjacency


def random_graph(n: int, p: float, seed: int, weighted: bool = False) -> torch.Tensor:
    """A symmetric (N, N) float64 adjacency without self-loops, some nodes possibly isolated."""
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu((torch.rand(n, n, generator=g) < p).double(), diagonal=1)
    if weighted:
        upper = upper * torch.rand(n, n, generator=g, dtype=torch.float64) * 3
    return upper + upper.T


def as_edge_list(a: torch.Tensor):
    index = torch.nonzero(a).T  # (2, E), both directions
    return index, a[index[0], index[1]]


def equation_14(a: torch.Tensor, h, w, b=None):
    """Direct evaluation: Ã = A + I, D̃ = diag(row sums of Ã), Z = D̃^-1/2 Ã D̃^-1/2 H W + b."""
    a_tilde = a + torch.eye(a.shape[0], dtype=a.dtype)
    d = torch.diag(a_tilde.sum(dim=1) ** -0.5)
    z = d @ a_tilde @ d @ h @ w
    return z if b is None else z + b


# ---------------------------------------------------------------- Â ---------------------------------
def test_normalized_adjacency_by_hand_path_graph():
    # Path 0 - 1 - 2. Ã = A + I = [[1,1,0],[1,1,1],[0,1,1]], row sums D̃ = (2, 3, 2).
    # Â_ij = Ã_ij / sqrt(D̃_ii D̃_jj):
    #   Â_00 = 1/sqrt(2*2) = 1/2     Â_01 = 1/sqrt(2*3) = 1/sqrt(6)   Â_02 = 0
    #   Â_11 = 1/sqrt(3*3) = 1/3     Â_12 = 1/sqrt(3*2) = 1/sqrt(6)   Â_22 = 1/2
    s6 = 1 / math.sqrt(6)
    expected = torch.tensor([[0.5, s6, 0.0], [s6, 1 / 3, s6], [0.0, s6, 0.5]], dtype=torch.float64)
    a = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)
    torch.testing.assert_close(normalized_adjacency(a), expected)
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    torch.testing.assert_close(normalized_adjacency(edge_index=edges, dtype=torch.float64).to_dense(),
                               expected)


def test_self_loops_added_once_star_graph():
    # Star: centre 0, leaves 1, 2, 3. Ã row sums D̃ = (4, 2, 2, 2), so
    #   Â_00 = 1/4, Â_0i = 1/sqrt(4*2) = 1/sqrt(8), Â_ii = 1/2, leaves not linked to each other.
    # Giving A with a self-loop already on node 0 (and on node 2) must not double those loops.
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[0, 1:] = a[1:, 0] = 1
    expected = torch.full((4, 4), 0.0, dtype=torch.float64)
    expected[0, 0] = 0.25
    expected[0, 1:] = expected[1:, 0] = 1 / math.sqrt(8)
    expected[[1, 2, 3], [1, 2, 3]] = 0.5
    looped = a.clone()
    looped[0, 0] = looped[2, 2] = 1
    for adjacency in (a, looped):
        torch.testing.assert_close(normalized_adjacency(adjacency), expected)
        torch.testing.assert_close(normalized_adjacency(adjacency.to_sparse()).to_dense(), expected)
        index, weight = as_edge_list(adjacency)
        torch.testing.assert_close(
            normalized_adjacency(edge_index=index, edge_weight=weight).to_dense(), expected)


def test_isolated_nodes_have_no_division_by_zero():
    # Nodes 0 - 1 linked, node 2 isolated (the last node, so num_nodes must be given for an edge list).
    a = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float32)
    with_loops = normalized_adjacency(a)
    assert with_loops[2, 2] == 1 and with_loops[2, :2].abs().sum() == 0  # Ã_22 = 1, D̃_22 = 1
    without = normalized_adjacency(a, add_self_loops=False)
    assert torch.isfinite(without).all() and without[2].abs().sum() == 0
    sparse = normalized_adjacency(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3,
                                  add_self_loops=False)
    assert sparse.shape == (3, 3)
    torch.testing.assert_close(sparse.to_dense(), without)


@pytest.mark.parametrize("seed", range(5))
def test_symmetric_with_spectrum_in_unit_interval(seed):
    a = random_graph(40, 0.1, seed, weighted=seed % 2 == 1)
    a_hat = normalized_adjacency(a)
    torch.testing.assert_close(a_hat, a_hat.T)
    eigenvalues = torch.linalg.eigvalsh(a_hat)
    assert eigenvalues.min() >= -1 - 1e-9 and eigenvalues.max() <= 1 + 1e-9, eigenvalues
    assert abs(eigenvalues.max().item() - 1) < 1e-9  # D̃^1/2 1 is an eigenvector with eigenvalue 1


@pytest.mark.parametrize("weighted", [False, True])
def test_dense_edge_list_coo_csr_agree(weighted):
    a = random_graph(60, 0.08, 7, weighted)
    loops = torch.arange(0, 60, 7)
    a[loops, loops] = 2.0 if weighted else 1.0  # some nodes already have a self-loop
    dense = normalized_adjacency(a)
    index, weight = as_edge_list(a)  # sorted by (row, col)
    shuffle = torch.randperm(index.shape[1], generator=torch.Generator().manual_seed(0))
    halves = torch.cat([weight, weight]) / 2  # every entry given twice, with half the weight
    uncoalesced = torch.sparse_coo_tensor(torch.cat([index, index], 1)[:, shuffle.repeat(2)],
                                          halves[shuffle.repeat(2)], (60, 60), check_invariants=True)
    variants = {
        "edge list": normalized_adjacency(edge_index=index, edge_weight=weight, num_nodes=60),
        "shuffled edge list": normalized_adjacency(edge_index=index[:, shuffle],
                                                   edge_weight=weight[shuffle], num_nodes=60),
        "coo": normalized_adjacency(a.to_sparse()),
        "uncoalesced coo": normalized_adjacency(uncoalesced),
        "csr": normalized_adjacency(a.to_sparse_csr()),
    }
    for name, a_hat in variants.items():
        assert a_hat.layout == torch.sparse_csr, name
        torch.testing.assert_close(a_hat.to_dense(), dense, msg=name)


def test_duplicate_edges_are_summed_like_weights():
    index = torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]])  # edge 0-1 listed twice in each direction
    weighted = torch.tensor([[0.0, 2.0], [2.0, 0.0]])
    torch.testing.assert_close(normalized_adjacency(edge_index=index).to_dense(),
                               normalized_adjacency(weighted))


# ---------------------------------------------------------------- the layer ------------------------
def test_repr_shapes_and_glorot_init():
    layer = GCNLayer(16, 32)
    assert repr(layer) == "GCNLayer(16, 32)"
    assert repr(GCNLayer(3, 2, bias=False)) == "GCNLayer(3, 2, bias=False)"
    assert repr(GCNLayer(3, 2, cached=True)) == "GCNLayer(3, 2, cached=True)"
    assert layer.weight.shape == (16, 32) and layer.bias.shape == (32,)
    big = GCNLayer(300, 200)
    bound = math.sqrt(6 / 500)
    assert big.weight.abs().max() <= bound
    assert abs(big.weight.std().item() - bound / math.sqrt(3)) < 0.02 * bound  # U(-r, r) std
    with torch.no_grad():
        big.weight.zero_()
        big.bias.fill_(1)
    big.reset_parameters()
    assert big.weight.abs().max() > 0 and big.bias.abs().max() == 0


@pytest.mark.parametrize("in_features,out_features", [(5, 3), (3, 5), (4, 4)])
@pytest.mark.parametrize("seed", range(3))
def test_layer_matches_equation_14(in_features, out_features, seed):
    torch.manual_seed(seed)
    a = random_graph(30, 0.15, seed, weighted=seed == 2)
    layer = GCNLayer(in_features, out_features).double()
    with torch.no_grad():
        layer.bias.normal_()
    h = torch.randn(30, in_features, dtype=torch.float64)
    expected = equation_14(a, h, layer.weight, layer.bias)
    torch.testing.assert_close(layer(h, normalized_adjacency(a)), expected)
    torch.testing.assert_close(layer(h, normalized_adjacency(a.to_sparse())), expected)


@pytest.mark.parametrize("in_features,out_features", [(6, 2), (2, 6)])
def test_product_order_multiplies_a_hat_with_the_narrower_matrix(monkeypatch, in_features,
                                                                  out_features):
    widths = []
    original = gcn.propagate
    monkeypatch.setattr(gcn, "propagate",
                        lambda a, x, a_t=None: widths.append(x.shape[1]) or original(a, x, a_t))
    a = random_graph(10, 0.3, 0).float()
    GCNLayer(in_features, out_features)(torch.randn(10, in_features), normalized_adjacency(a))
    assert widths == [min(in_features, out_features)]


LAYOUTS = {"dense": lambda m: m, "coo": lambda m: m.to_sparse(), "csr": lambda m: m.to_sparse_csr()}


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_messages_flow_from_column_node_to_row_node(layout, cached):
    # A directed Â with one entry Â[0, 1] = 2: node 0 receives from node 1, nobody from node 0.
    # With W = I and b = 0 the layer gives out[0] = 2 H[1] and zeros elsewhere; for the loss
    # sum(out * G) the gradient flows back the other way: dL/dH[1] = 2 G[0], zeros elsewhere.
    m = torch.zeros(4, 4, dtype=torch.float64)
    m[0, 1] = 2.0
    layer = GCNLayer(3, 3, bias=False, cached=cached).double()
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3))
    h = torch.arange(12.0, dtype=torch.float64).reshape(4, 3).requires_grad_()
    g = torch.arange(1.0, 13.0, dtype=torch.float64).reshape(4, 3)
    out = layer(h, LAYOUTS[layout](m))
    expected_out, expected_grad = torch.zeros(4, 3, dtype=torch.float64), torch.zeros_like(h)
    expected_out[0], expected_grad[1] = 2 * h[1].detach(), 2 * g[0]
    torch.testing.assert_close(out, expected_out)
    (out * g).sum().backward()
    torch.testing.assert_close(h.grad, expected_grad)


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_dense_and_sparse_forward_and_backward_agree(layout, cached):
    torch.manual_seed(0)
    a = random_graph(50, 0.1, 3, weighted=True)
    dense = normalized_adjacency(a)
    sparse = normalized_adjacency(a.to_sparse())
    sparse = sparse if layout == "csr" else sparse.to_sparse_coo()
    model = GCN(8, 16, 3, cached=cached).double()
    results = []
    for a_hat in (dense, sparse):
        h = torch.randn(50, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                        requires_grad=True)
        model.zero_grad()
        out = model(h, a_hat)
        (out * torch.arange(150.0, dtype=torch.float64).reshape(50, 3)).sum().backward()
        results.append((out, h.grad, model.layer1.weight.grad.clone(), model.layer2.bias.grad.clone()))
    for x, y in zip(*results):
        torch.testing.assert_close(x, y)


def input_gradient(layer, a_hat, seed=2):
    h = torch.randn(20, 4, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    (layer(h, a_hat) ** 2).sum().backward()
    return h.grad


@pytest.mark.parametrize("cached", [False, True])
def test_sparse_backward_uses_the_transpose_of_each_matrix(cached):
    # Directed (asymmetric) matrices: a wrong or stale transpose would give wrong gradients.
    torch.manual_seed(0)
    mats = [torch.rand(20, 20) * (torch.rand(20, 20) < 0.2) for _ in range(2)]
    csr = [m.to_sparse_csr() for m in mats]
    layer = GCNLayer(4, 3, cached=cached)
    for _ in range(2):  # alternate, so each call has to notice the other matrix
        for m, sparse in zip(mats, csr):
            torch.testing.assert_close(input_gradient(layer, sparse), input_gradient(layer, m),
                                       rtol=1e-5, atol=1e-6)


def test_cached_layer_transposes_each_graph_once_and_only_when_cached(monkeypatch):
    transposed = []
    original = gcn.transpose_csr
    monkeypatch.setattr(gcn, "transpose_csr", lambda a: transposed.append(a) or original(a))
    graphs = [(torch.rand(20, 20) * (torch.rand(20, 20) < 0.2)).to_sparse_csr() for _ in range(2)]
    uncached, cached = GCNLayer(4, 3), GCNLayer(4, 3, cached=True)
    for _ in range(3):
        input_gradient(uncached, graphs[0])
    assert transposed == []  # the uncached layer keeps nothing and leaves the backward to torch
    for _ in range(3):
        input_gradient(cached, graphs[0])
    assert transposed == [graphs[0]]
    with torch.no_grad():  # no backward coming: nothing to transpose, the cache stays
        cached(torch.randn(20, 4), graphs[1])
    assert len(transposed) == 1
    input_gradient(cached, graphs[1])
    input_gradient(cached, graphs[0])  # a new graph replaces the cached one
    assert transposed == [graphs[0], graphs[1], graphs[0]]


def test_cached_transpose_of_a_symmetric_a_hat_is_a_hat_itself():
    a_hat = normalized_adjacency(random_graph(30, 0.2, 0).to_sparse())
    assert GCNLayer(4, 3, cached=True).transpose_of(a_hat) is a_hat


def test_stale_cache_cannot_give_wrong_gradients():
    torch.manual_seed(1)
    m = torch.rand(20, 20) * (torch.rand(20, 20) < 0.2)
    sparse = m.to_sparse_csr()
    layer = GCNLayer(4, 3, cached=True)
    input_gradient(layer, sparse)  # caches the transpose of m
    with torch.no_grad():
        sparse.values().mul_(torch.rand(sparse._nnz()))  # the same tensor, changed in place
    torch.testing.assert_close(input_gradient(layer, sparse), input_gradient(layer, sparse.to_dense()),
                               rtol=1e-5, atol=1e-6)


def test_reset_parameters_and_a_new_graph_release_the_cached_graph():
    layer = GCNLayer(4, 3, cached=True)
    for release in ("new graph", "reset_parameters"):
        a_hat = (torch.rand(20, 20) * (torch.rand(20, 20) < 0.2)).to_sparse_csr()
        input_gradient(layer, a_hat)
        alive = weakref.ref(a_hat)
        del a_hat
        gc.collect()
        assert alive() is not None, release  # the cache holds the graph it was made for ...
        if release == "new graph":
            input_gradient(layer, torch.eye(20).to_sparse_csr())
        else:
            layer.reset_parameters()
        gc.collect()
        assert alive() is None, release  # ... and lets go of it


def test_sparse_path_never_builds_a_dense_matrix():
    # 300,000 nodes: a dense Â would need 360 GB, so this can only pass with a sparse product.
    n, e = 300_000, 600_000
    g = torch.Generator().manual_seed(0)
    u, v = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    index = torch.cat([torch.stack([u, v]), torch.stack([v, u])], dim=1)
    a_hat = normalized_adjacency(edge_index=index, num_nodes=n)
    h = torch.randn(n, 4, requires_grad=True)
    out = GCNLayer(4, 2)(h, a_hat)
    out.sum().backward()
    assert out.shape == (n, 2) and torch.isfinite(h.grad).all()


def test_gcn_model_outputs_log_probabilities():
    a_hat = normalized_adjacency(random_graph(12, 0.3, 1).float())
    model = GCN(5, 7, 3)
    log_probs = model(torch.randn(12, 5), a_hat)
    assert log_probs.shape == (12, 3)
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(12))
    assert model.hidden(torch.randn(12, 5), a_hat).min() >= 0  # ReLU between the layers


def test_gcn_dropout_is_off_in_eval_mode():
    torch.manual_seed(0)
    a_hat = normalized_adjacency(random_graph(30, 0.2, 4).float())
    x = torch.randn(30, 6)
    model = GCN(6, 8, 3, dropout=0.5).eval()
    plain = GCN(6, 8, 3, dropout=0.0).eval()
    plain.load_state_dict(model.state_dict())
    first = model(x, a_hat)
    assert torch.equal(model(x, a_hat), first)  # deterministic
    torch.testing.assert_close(first, plain(x, a_hat))  # and equal to the model without dropout
    torch.testing.assert_close(model.hidden(x, a_hat), plain.hidden(x, a_hat))
    assert not torch.equal(model.train()(x, a_hat), first)


def test_gcn_dropout_in_training_drops_input_and_hidden_units_at_the_rate():
    # With Â = I, W0 = W1 = I, b = 0 and X = 1 the logits are Z = m1 * m2 / (1 - p)^2, m1 and m2 the
    # input and hidden dropout masks: an entry survives with probability (1 - p)^2 = 0.25 (0.5 if
    # only one dropout were applied) and then equals 4. log_softmax only shifts each row, and a row of
    # 40 entries has a zero with probability 1 - 0.25^40, so Z = log-probs - their row minimum.
    # 10,000 entries: the kept fraction has sd sqrt(0.25 * 0.75 / 10000) = 0.0043; the tolerance
    # 0.02 is 4.6 sd, a flake rate of about 4e-6 for any seed.
    p, n, f = 0.5, 250, 40
    torch.manual_seed(0)
    model = GCN(f, f, f, dropout=p).train()
    with torch.no_grad():
        for layer in (model.layer1, model.layer2):
            layer.weight.copy_(torch.eye(f))
            layer.bias.zero_()
    log_probs = model(torch.ones(n, f), torch.eye(n))
    z = log_probs - log_probs.min(dim=1, keepdim=True).values  # (N, F)
    kept = z > 1e-3
    assert abs(kept.float().mean().item() - (1 - p) ** 2) < 0.02
    torch.testing.assert_close(z[kept], torch.full_like(z[kept], 1 / (1 - p) ** 2))
    hidden = model.hidden(torch.ones(n, f), torch.eye(n))  # input dropout only: kept with 1 - p
    assert abs((hidden > 0).float().mean().item() - (1 - p)) < 0.025  # sd 0.005: 5 sd


@pytest.mark.parametrize("seed", range(3))
def test_permutation_equivariance(seed):
    torch.manual_seed(seed)
    a = random_graph(25, 0.2, seed).float()
    h = torch.randn(25, 6)
    perm = torch.randperm(25)
    layer = GCNLayer(6, 4)
    out = layer(h, normalized_adjacency(a))
    permuted_a = a[perm][:, perm]  # node i of the new graph is node perm[i] of the old one
    torch.testing.assert_close(layer(h[perm], normalized_adjacency(permuted_a)), out[perm])
    index, _ = as_edge_list(a)
    relabel = torch.empty_like(perm)
    relabel[perm] = torch.arange(25)  # old label -> new label
    sparse = normalized_adjacency(edge_index=relabel[index], num_nodes=25)
    torch.testing.assert_close(layer(h[perm], sparse), out[perm])


# ---------------------------------------------------------------- PyTorch Geometric ----------------
PYG_MISSING = ("torch_geometric is not installed (pip install -r requirements-dev.txt); "
               "under CI=true the run fails instead of skipping")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("in_features,out_features", [(8, 5), (5, 8)])
def test_agrees_with_pyg_gcnconv(weighted, in_features, out_features):
    pyg = pytest.importorskip("torch_geometric.nn", reason=PYG_MISSING)
    torch.manual_seed(0)
    a = random_graph(40, 0.1, 5, weighted)
    index, weight = as_edge_list(a)
    layer = GCNLayer(in_features, out_features).double()
    with torch.no_grad():
        layer.bias.normal_()
    conv = pyg.GCNConv(in_features, out_features).double()
    with torch.no_grad():
        conv.lin.weight.copy_(layer.weight.T)  # PyG stores (out, in)
        conv.bias.copy_(layer.bias)
    h = torch.randn(40, in_features, dtype=torch.float64)
    expected = conv(h, index, weight if weighted else None)
    a_hat = normalized_adjacency(edge_index=index, edge_weight=weight if weighted else None,
                                 num_nodes=40, dtype=torch.float64)
    torch.testing.assert_close(layer(h, a_hat), expected)


# ---------------------------------------------------------------- bad input ------------------------
@pytest.mark.parametrize("make,fragment", [
    (lambda: normalized_adjacency(torch.ones(3, 4)), "square"),
    (lambda: normalized_adjacency(torch.ones(3, 4).to_sparse()), "square"),
    (lambda: normalized_adjacency(torch.tensor([[0.0, 1.0], [0.0, 0.0]])), "not symmetric"),
    (lambda: normalized_adjacency(torch.tensor([[0.0, 1.0], [0.0, 0.0]]).to_sparse_csr()),
     "not symmetric"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0, 1], [1, 2]])), "not symmetric"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0, 1], [1, 0]]),
                                  edge_weight=torch.tensor([1.0, 2.0])), "not symmetric"),
    (lambda: normalized_adjacency(torch.tensor([[0.0, -1.0], [-1.0, 0.0]])), "negative"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0, 1], [1, 0]]),
                                  edge_weight=torch.tensor([-2.0, -2.0])), "negative"),
    (lambda: normalized_adjacency(torch.tensor([[0.0, float("nan")], [float("nan"), 0.0]])),
     "non-finite"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0, 5], [5, 0]]), num_nodes=3), "node 5"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0.0, 1.0], [1.0, 0.0]])), "integer"),
    (lambda: normalized_adjacency(edge_index=torch.tensor([[0, 1], [1, 0]]),
                                  edge_weight=torch.ones(3)), "edge_weight"),
    (lambda: normalized_adjacency(), "exactly one"),
    (lambda: GCNLayer(3, 2)(torch.randn(5, 3), torch.eye(4)), "one feature row per node"),
    (lambda: GCNLayer(3, 2)(torch.randn(4, 3), torch.ones(4, 3)), "square"),
    (lambda: GCNLayer(3, 2)(torch.randn(4, 2), torch.eye(4)), "(N, 3)"),
])
def test_bad_input_is_a_clear_error(make, fragment):
    with pytest.raises(ValueError) as info:
        make()
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
