"""part3/gcn.py: Â by hand and against PyG's gcn_norm, its spectrum, dense and sparse agree, equation 14,
the direction of messages, PyG's GCNConv with the same weights, the two-layer model, dropout."""
from __future__ import annotations

import math

import pytest
import torch

from part3.gcn import GCN, GCNLayer, normalized_adjacency

PYG_MISSING = ("torch_geometric is not installed (pip install -r requirements-dev.txt); "
               "under CI=true the run fails instead of skipping")


def random_graph(n: int, p: float, seed: int, weighted: bool = False) -> torch.Tensor:
    """A symmetric (N, N) float64 adjacency without self-loops, some nodes possibly isolated."""
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu((torch.rand(n, n, generator=g) < p).double(), diagonal=1)
    if weighted:
        upper = upper * torch.rand(n, n, generator=g, dtype=torch.float64) * 3
    return upper + upper.T


def equation_14(a: torch.Tensor, h, w, b):
    """Direct evaluation: Ã = A + I, D̃ = diag(row sums of Ã), Z = D̃^-1/2 Ã D̃^-1/2 H W + b."""
    a_tilde = a + torch.eye(a.shape[0], dtype=a.dtype)
    d = torch.diag(a_tilde.sum(dim=1) ** -0.5)
    return d @ a_tilde @ d @ h @ w + b


def test_normalized_adjacency_by_hand_path_graph():
    # Path 0 - 1 - 2. Ã = A + I = [[1,1,0],[1,1,1],[0,1,1]], row sums D̃ = (2, 3, 2).
    # Â_ij = Ã_ij / sqrt(D̃_ii D̃_jj):
    #   Â_00 = 1/sqrt(2*2) = 1/2     Â_01 = 1/sqrt(2*3) = 1/sqrt(6)   Â_02 = 0
    #   Â_11 = 1/sqrt(3*3) = 1/3     Â_12 = 1/sqrt(3*2) = 1/sqrt(6)   Â_22 = 1/2
    # (a row normalisation D̃^-1 Ã would give Â_01 = 1/2, a missing self-loop Â_00 = 0).
    s6 = 1 / math.sqrt(6)
    expected = torch.tensor([[0.5, s6, 0.0], [s6, 1 / 3, s6], [0.0, s6, 0.5]], dtype=torch.float64)
    a = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)
    torch.testing.assert_close(normalized_adjacency(a), expected)
    sparse = normalized_adjacency(a.to_sparse())
    assert sparse.is_sparse
    torch.testing.assert_close(sparse.to_dense(), expected)


def test_normalized_adjacency_by_hand_star_graph():
    # Star: centre 0, leaves 1, 2, 3. D̃ = (4, 2, 2, 2): Â_00 = 1/4, Â_0i = 1/sqrt(8), Â_ii = 1/2,
    # the leaves not linked to each other; an isolated node 4 gets Â_44 = 1 and nothing else.
    a = torch.zeros(5, 5, dtype=torch.float64)
    a[0, 1:4] = a[1:4, 0] = 1
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[0, 0] = 0.25
    expected[0, 1:4] = expected[1:4, 0] = 1 / math.sqrt(8)
    expected[[1, 2, 3, 4], [1, 2, 3, 4]] = torch.tensor([0.5, 0.5, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(normalized_adjacency(a), expected)
    torch.testing.assert_close(normalized_adjacency(a.to_sparse()).to_dense(), expected)


@pytest.mark.parametrize("seed", range(4))
def test_symmetric_with_spectrum_in_unit_interval(seed):
    a_hat = normalized_adjacency(random_graph(40, 0.1, seed, weighted=seed % 2 == 1))
    torch.testing.assert_close(a_hat, a_hat.T)
    eigenvalues = torch.linalg.eigvalsh(a_hat)
    assert eigenvalues.min() >= -1 - 1e-9 and eigenvalues.max() <= 1 + 1e-9, eigenvalues
    assert abs(eigenvalues.max().item() - 1) < 1e-9  # D̃^1/2 1 is an eigenvector with eigenvalue 1


def test_rejects_a_non_square_adjacency():
    with pytest.raises(ValueError, match=r"square \(N, N\) matrix, got shape \(3, 4\)"):
        normalized_adjacency(torch.ones(3, 4))


def test_glorot_initialisation_and_zero_bias():
    layer = GCNLayer(300, 200)
    assert layer.weight.shape == (300, 200) and layer.bias.shape == (200,)
    bound = math.sqrt(6 / 500)
    assert layer.weight.abs().max() <= bound
    assert abs(layer.weight.std().item() - bound / math.sqrt(3)) < 0.02 * bound  # U(-r, r) std
    assert layer.bias.abs().max() == 0 and GCNLayer(3, 2, bias=False).bias is None


@pytest.mark.parametrize("in_features,out_features", [(5, 3), (3, 5)])
@pytest.mark.parametrize("seed", range(3))
def test_layer_matches_equation_14_dense_and_sparse(in_features, out_features, seed):
    torch.manual_seed(seed)
    a = random_graph(30, 0.15, seed, weighted=seed == 2)
    layer = GCNLayer(in_features, out_features).double()
    with torch.no_grad():
        layer.bias.normal_()
    h = torch.randn(30, in_features, dtype=torch.float64)
    expected = equation_14(a, h, layer.weight, layer.bias)
    torch.testing.assert_close(layer(h, normalized_adjacency(a)), expected)
    torch.testing.assert_close(layer(h, normalized_adjacency(a.to_sparse())), expected)


@pytest.mark.parametrize("sparse", [False, True])
def test_messages_flow_from_column_node_to_row_node(sparse):
    # A directed Â with one entry Â[0, 1] = 2: node 0 receives from node 1, nobody from node 0.
    # With W = I and b = 0 the layer gives out[0] = 2 H[1] and zeros elsewhere; for the loss
    # sum(out * G) the gradient flows back the other way: dL/dH[1] = 2 G[0], zeros elsewhere.
    m = torch.zeros(4, 4, dtype=torch.float64)
    m[0, 1] = 2.0
    layer = GCNLayer(3, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3))
    h = torch.arange(12.0, dtype=torch.float64).reshape(4, 3).requires_grad_()
    g = torch.arange(1.0, 13.0, dtype=torch.float64).reshape(4, 3)
    out = layer(h, m.to_sparse() if sparse else m)
    expected_out, expected_grad = torch.zeros(4, 3, dtype=torch.float64), torch.zeros_like(h)
    expected_out[0], expected_grad[1] = 2 * h[1].detach(), 2 * g[0]
    torch.testing.assert_close(out, expected_out)
    (out * g).sum().backward()
    torch.testing.assert_close(h.grad, expected_grad)


def test_dense_and_sparse_model_agree_forward_and_backward():
    torch.manual_seed(0)
    a = random_graph(50, 0.1, 3, weighted=True)
    model = GCN(8, 16, 3).double()
    results = []
    for a_hat in (normalized_adjacency(a), normalized_adjacency(a.to_sparse())):
        h = torch.randn(50, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                        requires_grad=True)
        model.zero_grad()
        out = model(h, a_hat)
        (out * torch.arange(150.0, dtype=torch.float64).reshape(50, 3)).sum().backward()
        results.append((out, h.grad, model.layer1.weight.grad.clone(), model.layer2.bias.grad.clone()))
    for x, y in zip(*results):
        torch.testing.assert_close(x, y)


def test_sparse_path_never_builds_a_dense_matrix():
    # 300,000 nodes: a dense Â would need 360 GB, so this can only pass with a sparse product.
    n, e = 300_000, 600_000
    g = torch.Generator().manual_seed(0)
    u, v = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    keep = u != v
    index = torch.cat([torch.stack([u[keep], v[keep]]), torch.stack([v[keep], u[keep]])], dim=1)
    a_hat = normalized_adjacency(torch.sparse_coo_tensor(index, torch.ones(index.shape[1]), (n, n),
                                                         check_invariants=True))
    h = torch.randn(n, 4, requires_grad=True)
    out = GCNLayer(4, 2)(h, a_hat)
    out.sum().backward()
    assert out.shape == (n, 2) and torch.isfinite(h.grad).all()


def test_gcn_outputs_log_probabilities_and_relu_hidden():
    a_hat = normalized_adjacency(random_graph(12, 0.3, 1).float())
    model = GCN(5, 7, 3)
    log_probs = model(torch.randn(12, 5), a_hat)
    assert log_probs.shape == (12, 3)
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(12))
    hidden = model.hidden(torch.randn(12, 5), a_hat)
    assert hidden.shape == (12, 7) and hidden.min() >= 0


def test_dropout_is_off_in_eval_mode_and_on_in_training():
    torch.manual_seed(0)
    a_hat = normalized_adjacency(random_graph(30, 0.2, 4).float())
    x = torch.randn(30, 6)
    model = GCN(6, 8, 3, dropout=0.5).eval()
    plain = GCN(6, 8, 3).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(x, a_hat), plain(x, a_hat))
    torch.testing.assert_close(model(x, a_hat), model(x, a_hat))  # deterministic
    # Training mode with W = I, b = 0, Â = I and X = 1: the input dropout keeps a hidden entry with
    # probability 1 - p = 0.5 (then 2); 10,000 entries give a kept fraction with sd 0.005, and the
    # tolerance 0.025 is 5 sd (a flake rate below 1e-6 for any seed).
    n, f = 250, 40
    model = GCN(f, f, f, dropout=0.5).train()
    with torch.no_grad():
        model.layer1.weight.copy_(torch.eye(f))
    hidden = model.hidden(torch.ones(n, f), torch.eye(n))
    assert abs((hidden > 0).float().mean().item() - 0.5) < 0.025
    torch.testing.assert_close(hidden[hidden > 0], torch.full_like(hidden[hidden > 0], 2.0))


@pytest.mark.parametrize("seed", range(2))
def test_permutation_equivariance(seed):
    torch.manual_seed(seed)
    a = random_graph(25, 0.2, seed).float()
    h = torch.randn(25, 6)
    perm = torch.randperm(25)
    layer = GCNLayer(6, 4)
    out = layer(h, normalized_adjacency(a))
    permuted = a[perm][:, perm]  # node i of the new graph is node perm[i] of the old one
    torch.testing.assert_close(layer(h[perm], normalized_adjacency(permuted)), out[perm])


def as_edge_list(a: torch.Tensor):
    index = torch.nonzero(a).T  # (2, E), both directions
    return index, a[index[0], index[1]]


@pytest.mark.parametrize("weighted", [False, True])
def test_a_hat_equals_pyg_gcn_norm(weighted):
    gcn_conv = pytest.importorskip("torch_geometric.nn.conv.gcn_conv", reason=PYG_MISSING)
    a = random_graph(40, 0.1, 6, weighted)
    index, weight = as_edge_list(a)
    pyg_index, pyg_weight = gcn_conv.gcn_norm(index, weight if weighted else None, num_nodes=40,
                                              dtype=torch.float64)
    pyg = torch.sparse_coo_tensor(pyg_index, pyg_weight, (40, 40), check_invariants=True).to_dense()
    torch.testing.assert_close(normalized_adjacency(a), pyg)
    torch.testing.assert_close(normalized_adjacency(a.to_sparse()).to_dense(), pyg)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("in_features,out_features", [(8, 5), (5, 8)])
def test_layer_agrees_with_pyg_gcnconv(weighted, in_features, out_features):
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
    torch.testing.assert_close(layer(h, normalized_adjacency(a)), expected)
    torch.testing.assert_close(layer(h, normalized_adjacency(a.to_sparse())), expected)
