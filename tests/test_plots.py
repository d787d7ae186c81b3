"""Layout and wording of the training plots."""

import numpy as np

from train import plots


def _confusion_figure():
    # Test-set counts: 85 true negatives, 2 false positives, 1 false negative.
    labels = np.array([0] * 87 + [1] * 54)
    probabilities = np.concatenate(
        [np.full(85, 0.1), np.full(2, 0.9), np.full(1, 0.1), np.full(53, 0.9)]
    )
    return plots._confusion_figure("test", labels, probabilities, 0.5)


def _texts(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]


def test_confusion_title_clears_colorbar():
    figure = _confusion_figure()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    # The axes title, and the figure title when there is one.
    titles = [figure.axes[0].title, *figure.texts]
    colorbar = figure.axes[1].get_tightbbox(renderer)

    for title in titles:
        if title.get_text():
            assert not title.get_window_extent(renderer).overlaps(colorbar)
    assert "threshold 0.500" in "".join(t.get_text() for t in titles)


def test_confusion_cells_use_singular():
    texts = _texts(_confusion_figure())

    assert "0.019\n(1 row)" in texts
    assert "0.977\n(85 rows)" in texts
