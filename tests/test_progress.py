"""Progress lines: at most one per interval, with position, values and ETA."""

from lscrepro.progress import Progress


def test_lines_come_at_most_once_per_interval_with_an_eta(monkeypatch):
    clock = iter([0.0, 10.0, 31.0, 40.0, 62.0])
    monkeypatch.setattr("lscrepro.progress.time.perf_counter", lambda: next(clock))
    lines = []
    progress = Progress(lines.append, "training", total=100, every=30)
    for loss in (0.9, 0.8, 0.7, 0.6):
        progress.step(loss=loss, epoch=1)
    assert lines == ["training step 2/100 loss 0.8 epoch 1 (ETA 0:25:19)",
                     "training step 4/100 loss 0.6 epoch 1 (ETA 0:24:48)"]


def test_without_a_total_there_is_no_eta(monkeypatch):
    clock = iter([0.0, 31.0])
    monkeypatch.setattr("lscrepro.progress.time.perf_counter", lambda: next(clock))
    lines = []
    Progress(lines.append, "LSC", total=None, every=30).step(radius=0.95)
    assert lines == ["LSC step 1 radius 0.95"]
