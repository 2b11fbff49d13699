"""The normalised ascent step that DeepDream and activation maximisation share (google/deepdream's make_step):
x <- x + step * g / (mean |g| + STEP_EPS). One constant for the numpy loops, the torch backend and the ONNX step
graph, so that all of them take the same step. Light on purpose: the CLI imports it at start, before torch."""

STEP_EPS = 1e-8  # keeps a zero gradient (a dead unit, a flat start) from dividing by zero
