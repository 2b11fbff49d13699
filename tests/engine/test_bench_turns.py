"""How `vis bench grad` takes turns between its timing processes (with stand-ins for the processes)."""

from __future__ import annotations

from vis.engine._bench import TURN_MS, _time_in_turns


class FakeWorker:
    """Answers each turn with a fixed time per gradient and records how many gradients it was asked for."""

    def __init__(self, ms: float, log: list) -> None:
        self.ms, self.log, self.asked = ms, log, []

    def send(self, repeat) -> None:
        self.asked.append(repeat)
        self.log.append(self)

    def receive(self) -> float:
        return self.ms


def test_turns_alternate_and_fast_gradients_are_repeated_to_fill_a_turn():
    log: list = []
    fast, slow = FakeWorker(2.0, log), FakeWorker(400.0, log)
    times = _time_in_turns({"torch": fast, "ort": slow}, warmup=2, runs=3, pause_s=0.0)
    assert log == [fast, slow] * 5  # one turn each, in alternation
    assert fast.asked == [1] + [round(TURN_MS / 2.0)] * 4  # the first warm-up alone, then 50 ms bursts
    assert slow.asked == [1] * 5  # already longer than a turn
    assert times == {"torch": [2.0] * 3, "ort": [400.0] * 3}  # the warm-up turns are not counted
