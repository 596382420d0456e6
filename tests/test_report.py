"""Figures of gitjax.report: what a reader sees on the axes."""
import matplotlib.pyplot as plt

from gitjax import report


def _drawn(monkeypatch, draw):
  """Calls `draw(path)` and returns its figure, drawn, instead of saving."""
  figures = []
  monkeypatch.setattr(report, '_save',
                      lambda fig, path: figures.append(fig) or path)
  draw('unused.png')
  fig = figures[0]
  fig.canvas.draw()
  return fig


def test_ekld_figure_labels_class_sizes_plainly_without_overlap(monkeypatch):
  """The log axis used to print '3x10^1 4x10^1' over each other; now the
  class sizes themselves, in plain digits, apart from each other."""
  sizes = [120, 60, 40, 30, 24, 20, 17, 15, 13, 12]
  fig = _drawn(monkeypatch, lambda path: report.ekld_figure(
      path, {'ce': (sizes, [0.1 * i for i in range(10)], -0.5)}))
  ax = fig.axes[0]
  labels = [t for t in ax.get_xticklabels(which='both') if t.get_text()]
  texts = [t.get_text() for t in labels]
  assert texts and all(t.isdigit() for t in texts), texts
  assert {'12', '120'} <= set(texts)
  boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
  assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))
  plt.close(fig)


def test_size_ticks():
  assert report.size_ticks([]) == []
  assert report.size_ticks([7, 7]) == [7.0]
  ticks = report.size_ticks(range(5, 4801))
  assert ticks[0] == 5 and ticks[-1] == 4800 and len(ticks) <= 13
