"""Training: early stopping, resume from checkpoint, divergence."""

from types import SimpleNamespace

import torch

from lscrepro.models import DenseStack
from lscrepro.training import TrainSettings, train_classifier


def toy_data(seed=0, n=600, d=10, classes=3):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g) * 2
    def split(m):
        y = torch.randint(classes, (m,), generator=g)
        return centers[y] + torch.randn(m, d, generator=g), y
    (xt, yt), (xv, yv), (xs, ys) = split(n), split(n // 5), split(n // 5)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


def net(seed=0):
    return DenseStack(10, 16, 3, 3, "relu", seed=seed)


def test_learns_and_reports_test_metrics():
    result = train_classifier(net(), toy_data(), TrainSettings(lr=1e-2, epochs=8, batch_size=64),
                              seed=0, log=lambda _: None)
    assert result.status == "completed"
    assert result.test_accuracy > 0.8
    assert len(result.history) == result.epochs_run == 8
    assert 1 <= result.best_epoch <= 8


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    data = toy_data()
    full = train_classifier(net(), data, TrainSettings(lr=1e-3, epochs=6, batch_size=64), seed=3,
                            log=lambda _: None)
    ckpt = tmp_path / "checkpoint.pt"
    train_classifier(net(), data, TrainSettings(lr=1e-3, epochs=3, batch_size=64), seed=3,
                     checkpoint=ckpt, log=lambda _: None)
    assert ckpt.exists()
    resumed = train_classifier(net(), data, TrainSettings(lr=1e-3, epochs=6, batch_size=64), seed=3,
                               checkpoint=ckpt, log=lambda _: None)
    assert resumed.resumed_from_epoch == 3
    assert resumed.history == full.history
    assert resumed.test_loss == full.test_loss


def test_early_stopping_restores_the_best_epoch():
    data = toy_data()
    # validation labels unrelated to the inputs: fitting the training set makes the
    # validation loss rise, so patience runs out
    data.y_val = torch.randint(3, data.y_val.shape, generator=torch.Generator().manual_seed(9))
    result = train_classifier(net(), data, TrainSettings(lr=3e-2, epochs=200, batch_size=64, patience=3),
                              seed=0, log=lambda _: None)
    assert result.status == "early_stopped"
    val = [row["val_loss"] for row in result.history]
    assert result.best_epoch == val.index(min(val)) + 1
    assert result.epochs_run == result.best_epoch + 3


def test_divergence_ends_normally_with_status_diverged():
    data = toy_data()
    data.x_train = data.x_train * 1e30  # logits overflow to inf -> non-finite loss
    result = train_classifier(net(), data, TrainSettings(lr=1.0, epochs=5, batch_size=64), seed=0,
                              log=lambda _: None)
    assert result.status == "diverged"
