"""marginlib.models: shapes, the features/classifier interface, published parameter counts, normalization,
initialization schemes and determinism, argument errors."""
from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from marginlib import models
from marginlib.models import build, weight_layers

MNIST, CIFAR = (1, 28), (3, 32)
# keep the generic names small; every fixed-size name is built as published
SMALL = {"mlp": {"hidden": (16, 8)}, "resnet": {"blocks": (1, 1), "widths": (4, 8)}, "wrn": {"depth": 10, "width": 1}}
BIG = {"resnet18", "wrn28_4", "wrn34_10"}  # CIFAR-shaped only, to keep the suite fast


def _x(shape: tuple[int, int], n: int = 2, seed: int = 0) -> torch.Tensor:
    c, s = shape
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed))


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _cases():
    for name in models.names():
        for shape in (CIFAR,) if name in BIG else (MNIST, CIFAR):
            yield pytest.param(name, shape, id=f"{name}-{shape[0]}x{shape[1]}")


@pytest.mark.parametrize("name,shape", list(_cases()))
def test_builds_returns_logits_and_factors_through_features(name, shape):
    model = build(name, in_channels=shape[0], input_size=shape[1], num_classes=7, **SMALL.get(name, {}))
    assert model.training and isinstance(model.classifier, nn.Linear)
    x = _x(shape)
    model.eval()
    logits = model(x)
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    feats = model.features(x)
    assert feats.shape == (2, model.classifier.in_features)
    assert torch.equal(model.classifier(feats), logits)
    # every parameter is used: one backward reaches all of them
    model.train()
    model(x).square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name,kw,expected", [
    ("cw_mnist", {}, 312_202),                       # Carlini & Wagner's MNIST model
    ("lenet5_madry", {}, 3_274_634),                 # Madry et al.'s MNIST model: 3.27M
    ("lenet", {}, 431_080),                          # Caffe / MatConvNet LeNet
    ("resnet18", {}, 11_173_962),                    # CIFAR ResNet-18: 11.17M
    ("wrn", {"depth": 28, "width": 10}, 36_479_194),  # WRN paper: 36.5M
    ("wrn34_10", {}, 46_160_474),                    # Madry / TRADES WRN-34-10: 46.2M
    # hand sums of weights + biases (+ GroupNorm affine) per layer, 10 classes
    ("cw_cifar", {}, 1792 + 36928 + 73856 + 147584 + (3200 * 256 + 256) + (256 * 256 + 256) + 2570),
    ("emr_cnn", {}, (3 * 32 * 25 + 32) + (32 * 64 * 25 + 64) + (64 * 128 * 9 + 128) + (128 * 128 * 9 + 128) + 1290),
    ("lenet", {"in_channels": 3, "input_size": 32},
     (3 * 32 * 25 + 32) + (32 * 32 * 25 + 32) + (32 * 64 * 25 + 64) + (64 * 64 * 16 + 64) + 650),
    ("liunet", {}, (9 * 64 + 64) + 9 * (64 * 64 * 9 + 64) + 10 * 128 + (576 * 256 + 256) + 2570),
    ("mlp2x800", {}, (784 * 800 + 800) + (800 * 800 + 800) + 8010),
    ("logreg", {"num_classes": 1}, 785),
])
def test_parameter_counts_match_published_and_hand_counted_values(name, kw, expected):
    assert _count(build(name, **kw)) == expected


def _cifar_resnet_count(depth: int, classes: int = 10) -> int:
    """He et al.'s CIFAR ResNet with option A shortcuts: stem conv + BN, 3 stages of n blocks (two bias-free 3x3
    convs + two BNs each), fc; the option-A shortcuts have no parameters."""
    n, total, c_in = (depth - 2) // 6, 9 * 3 * 16 + 2 * 16, 16
    for width in (16, 32, 64):
        total += 9 * c_in * width + 9 * width * width + 4 * width + (n - 1) * (18 * width * width + 4 * width)
        c_in = width
    return total + 64 * classes + classes


def _wrn_count(depth: int, k: int, classes: int = 10) -> int:
    """Zagoruyko & Komodakis' WRN-depth-k: stem conv 3->16, three groups of n = (depth-4)/6 pre-activation blocks
    (BN, 3x3 conv, BN, 3x3 conv; 1x1 projection in the first block when channels change), final BN, fc."""
    n, total, c_in = (depth - 4) // 6, 9 * 3 * 16, 16
    for width in (16 * k, 32 * k, 64 * k):
        projection = c_in * width if c_in != width else 0
        total += 2 * c_in + 9 * c_in * width + 2 * width + 9 * width * width + projection
        total += (n - 1) * (4 * width + 18 * width * width)
        c_in = width
    return total + 2 * c_in + c_in * classes + classes


@pytest.mark.parametrize("depth,published", [(20, 0.27e6), (56, 0.85e6), (110, 1.7e6)])
def test_cifar_resnets_match_he_et_al_table_6(depth, published):
    model = build(f"resnet{depth}")
    assert _count(model) == _cifar_resnet_count(depth)
    assert _count(model) == pytest.approx(published, rel=0.02)
    # "ResNet-depth" counts its weight layers: 6n + 1 convs and the fc (option A adds none)
    assert len(weight_layers(model)) == depth


@pytest.mark.parametrize("depth,k", [(10, 1), (16, 2), (28, 4), (28, 10), (34, 10)])
def test_wide_resnet_counts_follow_the_wrn_formula(depth, k):
    model = build("wrn", depth=depth, width=k)
    assert _count(model) == _wrn_count(depth, k)


def test_shortcut_option_b_adds_projections_to_cifar_resnet():
    a, b = build("resnet20"), build("resnet20", shortcut="B")
    # two stride-2 transitions: 1x1 convs 16->32 and 32->64, each with a BN
    assert _count(b) - _count(a) == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert len(weight_layers(b)) == 22


def test_mlp_matches_a_hand_written_relu_forward():
    model = build("mlp", hidden=(6, 5), input_size=4, num_classes=3)
    x = _x((1, 4), n=5)
    h = x.flatten(1)
    layers = weight_layers(model)
    for layer in layers[:-1]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    torch.testing.assert_close(model(x), h @ layers[-1].weight.T + layers[-1].bias)


def test_one_logit_logistic_regression_is_affine_in_the_pixels():
    model = build("logreg", num_classes=1)
    x = _x(MNIST, n=5)
    f = model(x)
    assert f.shape == (5, 1)
    torch.testing.assert_close(f, x.flatten(1) @ model.classifier.weight.T + model.classifier.bias)
    assert torch.equal(model.features(x), x.flatten(1))


@pytest.mark.parametrize("name", ["mlp1x1024", "cw_cifar", "resnet20", "liunet"])
def test_normalization_layer_equals_normalizing_the_input(name):
    shape = CIFAR
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    kw = {"in_channels": 3, "input_size": 32}
    normed, plain = build(name, mean=mean, std=std, **kw).eval(), build(name, **kw).eval()
    x = _x(shape)
    z = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(normed(x), plain(z))
    assert isinstance(normed.normalize, models.Normalize) and isinstance(plain.normalize, nn.Identity)
    # an eps-step in pixel space is an eps/std step after the layer: the gradient picks up 1/std
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(normed(x)[:, 0].sum(), x)
    zz = z.clone().requires_grad_(True)
    (gz,) = torch.autograd.grad(plain(zz)[:, 0].sum(), zz)
    torch.testing.assert_close(g, gz / torch.tensor(std).view(1, 3, 1, 1))


def test_mean_only_normalization_subtracts_the_mean():
    model = build("mlp2x800", mean=0.1307).eval()
    x = _x(MNIST)
    torch.testing.assert_close(model(x), build("mlp2x800").eval()(x - 0.1307))


@pytest.mark.parametrize("kw,match", [
    ({"mean": (0.1, 0.2)}, "one value or 1"),
    ({"std": 0.0}, "std must be > 0"),
    ({"std": (0.2, -1.0, 0.3), "in_channels": 3}, "std must be > 0"),
])
def test_bad_normalization_values_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        build("mlp1x1024", **kw)


def test_liunet_uses_groupnorm_so_samples_do_not_interact_in_train_mode():
    model = build("liunet", variant="cifar10", in_channels=3, input_size=32)
    norms = [m for m in model.modules() if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d))]
    assert len(norms) == 13 and all(isinstance(m, nn.GroupNorm) and m.num_groups == 32 for m in norms)
    assert len(weight_layers(model)) == 15  # 13 convs + fc + classifier
    x = _x(CIFAR, n=4)
    torch.testing.assert_close(model(x)[:1], model(x[:1]))  # train mode, batch of 4 vs alone
    bn_model = build("resnet20")  # the check does detect batch coupling
    assert not torch.allclose(bn_model(x)[:1], bn_model(x[:1]))


@pytest.mark.parametrize("variant,channels,fc", [("mnist", 64, 256), ("cifar10", 128, 256), ("cifar100", 384, 512)])
def test_liunet_variants_follow_l_softmax_table_1(variant, channels, fc):
    in_channels = 1 if variant == "mnist" else 3
    model = build("liunet", variant=variant, in_channels=in_channels, input_size=28 if variant == "mnist" else 32)
    convs = [m for m in weight_layers(model) if isinstance(m, nn.Conv2d)]
    assert len(convs) == (10 if variant == "mnist" else 13) and convs[-1].out_channels == channels
    assert model.classifier.in_features == fc
    if variant == "mnist":
        assert len(weight_layers(model)) == 12  # paper 003 §4.1: "a deeper CNN with 12 weight layers"


def test_variant_defaults_follow_the_input_channels():
    assert _count(build("lenet", in_channels=1)) == 431_080
    assert _count(build("lenet", in_channels=3, input_size=32)) == _count(build("lenet", variant="cifar",
                                                                                in_channels=3, input_size=32))
    assert build("liunet", in_channels=3, input_size=32).classifier.in_features == 256
    assert weight_layers(build("liunet", in_channels=3, input_size=32))[-3].out_channels == 128  # cifar10 widths


def test_non_square_inputs():
    model = build("cw_mnist", input_size=(28, 36)).eval()
    assert model(torch.rand(3, 1, 28, 36)).shape == (3, 10)


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "wrn28_4", "lenet"])
def test_weight_layers_come_in_forward_order(name):
    model = build(name, **({"in_channels": 3, "input_size": 32} if name == "lenet" else {}))
    seen: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(m)) for m in weight_layers(model)]
    model(_x(CIFAR))
    for h in hooks:
        h.remove()
    assert seen == weight_layers(model)
    assert weight_layers(model)[-1] is model.classifier


@pytest.mark.parametrize("name", ["logreg", "mlp2x800", "cw_cifar", "emr_cnn", "lenet5_madry", "lenet", "liunet",
                                  "resnet20", "wrn"])
def test_initialization_is_determined_by_the_seed_alone(name):
    kw = SMALL.get(name, {})
    state = torch.random.get_rng_state()
    a, b, c = build(name, seed=3, **kw), build(name, seed=3, **kw), build(name, seed=4, **kw)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is never consumed
    sa, sc = a.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], v) for k, v in b.state_dict().items())
    assert any(not torch.equal(sa[k], v) for k, v in sc.items() if v.is_floating_point())
    g = build(name, generator=torch.Generator().manual_seed(3), **kw).state_dict()
    assert all(torch.equal(sa[k], v) for k, v in g.items())
    # direct construction draws the same weights from the same generator
    direct = type(a)(**_args(name, kw), generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(sa[k], v) for k, v in direct.state_dict().items())


def _args(name: str, kw: dict) -> dict:
    spec = models._REGISTRY[name]
    accepted = inspect.signature(spec.cls).parameters
    return {k: v for k, v in {**spec.defaults, **kw, **spec.fixed}.items() if k in accepted}


def test_reset_parameters_restores_the_initial_weights_and_running_stats():
    model = build("resnet20", seed=5)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    model(_x(CIFAR, n=8))  # train-mode forward updates BN running statistics
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    model.reset_parameters(torch.Generator().manual_seed(5))
    assert all(torch.equal(init[k], v) for k, v in model.state_dict().items())


def test_default_and_he_initialization_scales():
    mlp = build("mlp1x1024", seed=0)
    w = mlp.body[1].weight
    bound = 1 / math.sqrt(784)  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    conv = weight_layers(build("resnet56", seed=0))[-2]  # a 64->64 3x3 conv of the last stage
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.02)


def test_fixup_resnet_has_no_norm_layers_zero_branches_and_scaled_first_convs():
    model = build("resnet56", norm="none", seed=0)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in model.modules())
    blocks = [m for m in model.modules() if isinstance(m, models.BasicBlock)]
    assert len(blocks) == 27
    assert all(torch.count_nonzero(b.conv2.weight) == 0 for b in blocks)
    assert torch.count_nonzero(model.classifier.weight) == 0 and torch.count_nonzero(model.classifier.bias) == 0
    assert torch.equal(model(_x(CIFAR)), torch.zeros(2, 10))  # zero logits at init, as in Fixup
    conv1 = torch.cat([b.conv1.weight.flatten() for b in blocks[-8:]])  # 64->64 convs of the last stage
    assert conv1.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)) / math.sqrt(27), rel=0.03)
    assert all(m.bias is None for m in weight_layers(model)[:-1])


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = _x(CIFAR, n=2)
    y = models.resnets.PadShortcut(5, 2)(x)
    assert y.shape == (2, 8, 16, 16)
    assert torch.equal(y[:, :3], x[:, :, ::2, ::2]) and not y[:, 3:].any()


def test_fixup_blocks_start_as_identity_shortcuts():
    # with every residual branch at zero, each block is relu(shortcut(h)): the features are the stem's
    # ReLU output subsampled twice (stride 4), averaged, and zero-padded to 64 channels
    model = build("resnet20", norm="none")
    x = _x(CIFAR)
    stem = torch.relu(model.body[0](x))
    feats = model.features(x)
    torch.testing.assert_close(feats[:, :16], stem[:, :, ::4, ::4].mean((2, 3)))
    assert not feats[:, 16:].any()


def test_wide_block_identity_path_carries_the_raw_input():
    # pre-activation block: x + branch(relu(bn(x))); with the branch's last conv at zero the block is the identity
    block = models.WideBlock(4, 4, stride=1, dropout=0.0)
    with torch.no_grad():
        block.conv2.weight.zero_()
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(block(x), x)


def test_cw_dropout_acts_only_in_train_mode():
    model, x = build("cw_mnist"), _x(MNIST, n=4)
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    no_dropout = build("cw_mnist", dropout=0.0)
    assert torch.equal(no_dropout(x), no_dropout.eval()(x))


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="name='resnet19'.*'resnet20'.*'wrn34_10'"):
        build("resnet19")


@pytest.mark.parametrize("name,kw,match", [
    ("mlp1x1024", {"depth": 3}, "keyword.*'depth'.*choose one of.*'num_classes'"),
    ("resnet20", {"blocks": (1, 1, 1)}, "'blocks' is not valid"),  # fixed by the name
    ("wrn34_10", {"width": 4}, "'width' is not valid"),
    ("resnet20", {"shortcut": "C"}, "shortcut='C'.*'A', 'B'"),
    ("resnet20", {"norm": "layer"}, "norm='layer'.*'batch', 'none'"),
    ("liunet", {"variant": "svhn"}, "variant='svhn'.*'mnist', 'cifar10', 'cifar100'"),
    ("liunet", {"groups": 5}, "groups=5 must divide"),
    ("wrn", {"depth": 30}, "depth must be 6n \\+ 4"),
    ("cw_mnist", {"input_size": 12}, "input_size=.* too small"),
    ("logreg", {"num_classes": 0}, "num_classes must be a positive int"),
    ("mlp", {"hidden": (10, 0)}, "hidden must be"),
    ("mlp", {"input_size": (28, 0)}, "input_size must be"),
])
def test_bad_arguments_raise_value_errors_naming_the_choices(name, kw, match):
    with pytest.raises(ValueError, match=match):
        build(name, **kw)


def test_seed_and_generator_are_exclusive():
    with pytest.raises(ValueError, match="seed or generator"):
        build("logreg", seed=1, generator=torch.Generator())


def test_data_keywords_are_accepted_by_every_name():
    for name in models.names():
        assert set(models.DATA_KEYWORDS) <= set(models.keywords(name))
    # size-agnostic models take input_size and ignore it
    assert _count(build("resnet20", input_size=28)) == _count(build("resnet20"))
