"""`vis bench dream`: every backend dreams every frame of the clip; interleaved on a CPU, one after another on a GPU."""

import pytest
from typer.testing import CliRunner

from vis.cli import app
from vis.engine._dream import DreamConfig, VideoDreamConfig
from vis.engine._dream_bench import bench_dream, format_bench

TINY = DreamConfig(octaves=1, iterations=1)


@pytest.mark.parametrize("pause_s", [0.01, 0.0])
def test_every_backend_times_every_frame(pause_s):
    results = bench_dream(model="efficientnet_lite0", frames=3, size=(64, 48), backends=("ort", "torch"),
                          provider="cpu", config=TINY, video=VideoDreamConfig(flow="dis", flow_size=32),
                          pause_s=pause_s)
    assert [r.backend for r in results] == ["ort", "torch"]
    for r in results:
        assert r.frames == 3 and r.seconds > r.first_s > 0 and r.fps > 0
        assert r.later_fps == pytest.approx(2 / (r.seconds - r.first_s))
    table = format_bench(results).splitlines()
    assert "fps after" in table[0] and table[1].startswith("ort") and table[2].startswith("torch")


def test_cuda_graphs_on_the_cpu_provider_are_refused():
    result = CliRunner().invoke(app, ["bench", "dream", "--frames", "2", "--width", "64", "--height", "48",
                                      "--model", "efficientnet_lite0", "--provider", "cpu", "--cuda-graph"])
    assert result.exit_code == 2
    assert "CUDA graphs need the cuda execution provider" in result.output
