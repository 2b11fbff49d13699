"""Going on with a stopped video dream (`vis dream VIDEO -o OUT --resume`): the frames the file held come first,
bit for bit (copied, not re-encoded), the new ones follow at their times, and what cannot be gone on with says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vis.engine._resume import NoFrameYet, dream_record, last_frame, stopped_dream
from vis.engine._video import VideoSource
from vis.engine._video_sink import VideoSink
from vis.errors import OutputPathError, VisError

from _numbered_video import index_of, numbered_clip, numbered_frame  # noqa: I001 - tests/engine's helpers
from _vis_cli import dream  # noqa: I001

av = pytest.importorskip("av")


def decoded(path: Path) -> list[np.ndarray]:
    with VideoSource(path) as source:
        source.raw = True
        return list(source)


def write_numbered(path: Path, indices: range, sink_kwargs: dict | None = None, timed: bool = True) -> VideoSink:
    """Frames ``indices`` written at their times (``timed``), or each after the one before."""
    with VideoSink(path, 30.0, (160, 32), **(sink_kwargs or {})) as sink:
        for i in indices:
            sink.write(numbered_frame(i)[:, :, ::-1].copy(), at=i / 30 if timed else None)
    return sink


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi", ".mov"])
def test_a_resumed_file_holds_the_old_frames_as_they_were_and_the_new_at_their_times(tmp_path, suffix) -> None:
    out = tmp_path / f"dream{suffix}"
    write_numbered(out, range(40))
    before = decoded(out)
    sink = write_numbered(out, range(40, 70), {"resume": stopped_dream(out)})
    assert sink.frames_before == 40 and sink.frames_written == 30
    after = decoded(out)
    assert [index_of(f) for f in after] == list(range(70))
    assert all(np.array_equal(a, b) for a, b in zip(before, after[:40]))  # copied: not one bit changed
    with VideoSource(out) as source:
        list(source)
        assert source.frame_time(40) == pytest.approx(40 / 30, abs=2e-3) and not source.truncated
    assert not list(tmp_path.glob(".*"))  # no partial file left beside it


def test_frames_written_without_times_follow_the_old_ones(tmp_path) -> None:
    out = tmp_path / "dream.mp4"
    write_numbered(out, range(10))
    write_numbered(out, range(10, 15), {"resume": stopped_dream(out)}, timed=False)
    with VideoSource(out) as source:
        assert [index_of(f) for f in source] == list(range(15))
        assert [source.frame_time(i) for i in (9, 10, 14)] == pytest.approx([0.3, 1 / 3, 14 / 30], abs=2e-3)


def test_the_file_holds_the_old_frames_from_the_moment_the_resumed_sink_opens(tmp_path) -> None:
    """The new file takes the old one's place before any new frame: a run killed then loses at most the last frame
    (whose fragment the MP4 muxer finishes when the next comes, as in any run), which --resume dreams again."""
    out = tmp_path / "dream.mp4"
    write_numbered(out, range(20))
    sink = VideoSink(out, 30.0, (160, 32), resume=stopped_dream(out))
    try:
        shown = [index_of(f) for f in decoded(out)]  # read while the sink still writes
        assert shown == list(range(len(shown))) and len(shown) >= 19
    finally:
        sink.close()
    assert stopped_dream(out).frames == 20  # a resumed sink that got no frame keeps the file


def test_what_a_stopped_dream_holds(tmp_path) -> None:
    out = tmp_path / "dream.mkv"
    write_numbered(out, range(12))
    stopped = stopped_dream(out)
    assert stopped.frames == 12 and stopped.size == (160, 32) and stopped.codec == "h264"
    assert stopped.last_start == pytest.approx(11 / 30, abs=2e-3) and float(stopped.end) == pytest.approx(0.4, abs=2e-3)


def test_a_file_of_another_size_or_encoder_is_not_gone_on_with(tmp_path) -> None:
    out = tmp_path / "dream.mp4"
    write_numbered(out, range(5))
    with pytest.raises(OutputPathError, match="its frames are 160x32, this dream's 80x32"):
        VideoSink(out, 30.0, (80, 32), resume=stopped_dream(out))
    foreign = tmp_path / "foreign.mp4"
    with av.open(str(foreign), "w") as c:  # H.264 at other settings: its units cannot share one stream with vis's
        stream = c.add_stream("libx264", rate=30, options={"preset": "slow", "crf": "30"})
        stream.width, stream.height, stream.pix_fmt = 160, 32, "yuv420p"
        for i in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    with pytest.raises(VisError, match="it was encoded otherwise than vis encodes now"):
        VideoSink(foreign, 30.0, (160, 32), resume=stopped_dream(foreign))
    assert len(decoded(foreign)) == 5  # and it is kept as it was
    with pytest.raises(OutputPathError, match="vis goes on with .mp4, .mov, .m4v, .mkv and .avi"):
        VideoSink(tmp_path / "dream.gif", 30.0, (160, 32), resume=stopped_dream(out))


def test_a_file_at_another_rate_is_not_gone_on_with(tmp_path) -> None:
    """The AVI muxer failed with a traceback on a 25 fps file's packets given to a 10 fps stream."""
    out = tmp_path / "dream.avi"
    write_numbered(out, range(5))
    with pytest.raises(OutputPathError, match="its frames run at 30 fps, this dream's at 10 fps"):
        VideoSink(out, 10.0, (160, 32), resume=stopped_dream(out))
    assert len(decoded(out)) == 5 and not list(tmp_path.glob(".*"))


def test_a_muxer_that_refuses_the_old_frames_is_one_message(tmp_path, monkeypatch) -> None:
    import vis.engine._resume as resume

    out = tmp_path / "dream.avi"
    write_numbered(out, range(5))

    def refused(*args):
        raise av.error.ArgumentError(22, "Invalid argument")

    monkeypatch.setattr(resume, "copy_frames", refused)
    with pytest.raises(OutputPathError, match="its frames cannot be copied as they are .*Invalid argument"):
        VideoSink(out, 30.0, (160, 32), resume=stopped_dream(out))
    assert len(decoded(out)) == 5 and not list(tmp_path.glob(".*"))


def test_a_file_that_is_no_video_says_so(tmp_path) -> None:
    junk = tmp_path / "dream.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(VisError, match="cannot go on with .*dream.mp4: it is no video vis can read"):
        stopped_dream(junk)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".avi"])
def test_a_last_frame_cut_short_is_left_out_and_dreamed_again(tmp_path, suffix) -> None:
    """A full disk (or a kill mid-write) stops a frame half written: its packet reads, shorter than the file's index
    says. Copied on, it was a torn picture in the middle of the resumed video."""
    out = tmp_path / f"dream{suffix}"
    write_numbered(out, range(20))
    with av.open(str(out)) as c:
        last = [p for p in c.demux(video=0) if p.size][-1]
        cut = last.pos + last.size // 2
    out.write_bytes(out.read_bytes()[:cut])
    stopped = stopped_dream(out)
    assert stopped.frames == 19 and stopped.torn
    assert np.array_equal(last_frame(out, stopped), decoded(out)[18])  # the seam's frame: the last whole one
    sink = write_numbered(out, range(19, 30), {"resume": stopped})
    assert sink.frames_before == 19
    assert [index_of(f) for f in decoded(out)] == list(range(30))
    with av.open(str(out)) as c:
        assert not any(p.is_corrupt for p in c.demux(video=0) if p.size)


def header_only(path: Path, record: str | None) -> None:
    """What a run killed before its first frame leaves at ``path``: the header its writer wrote on opening."""
    sink = VideoSink(path, 30.0, (160, 32), record=record)
    try:
        header = path.read_bytes()
    finally:
        sink.close()  # a sink that got no frame removes its file: put back what a kill would have left
    path.write_bytes(header)


def test_a_dream_with_no_frame_yet_is_told_from_another_programs_empty_video(tmp_path) -> None:
    header_only(tmp_path / "ours.mp4", dream_record(input="in.mp4"))
    with pytest.raises(NoFrameYet, match="it holds no frame"):
        stopped_dream(tmp_path / "ours.mp4")
    header_only(tmp_path / "theirs.mp4", None)
    with pytest.raises(VisError, match="it holds no frame") as refused:
        stopped_dream(tmp_path / "theirs.mp4")
    assert not isinstance(refused.value, NoFrameYet)


# ---- vis dream --resume -----------------------------------------------------------------------------------------

# --blend 0: each frame dreamed alone, so that a step this small leaves its number readable in the output
FAST = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "1", "--iterations", "1", "--blend", "0",
        "--step", "0.01", "--threads", "2", "-q"]


def test_vis_goes_on_with_a_stopped_dream_and_its_sound(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=60, sound_s=2.0)
    out = tmp_path / "out.mp4"
    code, said = dream(src, "-o", out, "--max-frames", "25", *FAST)  # a run that stopped after 25 frames
    assert code == 0, said
    code, said = dream(src, "-o", out, *FAST)
    assert code == 2 and "or --resume to go on with a dream of this video that was stopped" in said
    code, said = dream(src, "-o", out, "--resume", *FAST, "--objective", "block5", "--seed", "3")
    assert code == 2 and "it is a dream of another input or at other settings (objective 'block10' there, " \
        "'block5' now; seed 0 there, 3 now)" in said, said
    code, said = dream(src, "-o", out, "--resume", *FAST, "--iterations", "2", "--blend", "0.5")
    assert code == 2 and "(blend 0.0 there, 0.5 now; iterations 1 there, 2 now)" in said, said  # not the groups whole
    code, said = dream(src, "-o", out, "--resume", *FAST)
    assert code == 0, said
    assert "(60 frames (25 kept from the stopped dream), 160x32 at 30 fps," in said
    assert "audio copied from the input" in said
    assert [index_of(f) for f in decoded(out)] == list(range(60))
    with av.open(str(out)) as c:
        assert float(c.streams.audio[0].duration * c.streams.audio[0].time_base) == pytest.approx(2.0, abs=0.1)
    code, said = dream(src, "-o", out, "--resume", *FAST)
    assert code == 0 and "holds the whole dream already (60 frames): nothing to resume" in said


def test_a_stopped_section_goes_on_within_the_section(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=120)
    out = tmp_path / "out.mkv"
    section = ["--start", "1", "--duration", "1.5"]
    code, said = dream(src, "-o", out, *section, "--max-frames", "10", *FAST)
    assert code == 0, said
    code, said = dream(src, "-o", out, *section, "--resume", *FAST)
    assert code == 0, said
    assert "(45 frames (10 kept from the stopped dream)," in said and "the input's 1.00-2.50 s" in said
    assert [index_of(f) for f in decoded(out)] == list(range(30, 75))


def test_max_frames_counts_the_frames_the_output_holds(tmp_path) -> None:
    """The same command again with --resume makes what one run would have: a resumed --max-frames run added that
    many frames each time."""
    src = numbered_clip(tmp_path / "in.mp4", count=30)
    out = tmp_path / "out.mp4"
    code, said = dream(src, "-o", out, "--max-frames", "6", *FAST)
    assert code == 0, said
    code, said = dream(src, "-o", out, "--max-frames", "10", "--resume", *FAST)
    assert code == 0 and "(10 frames (6 kept from the stopped dream)," in said, said
    code, said = dream(src, "-o", out, "--max-frames", "10", "--resume", *FAST)
    assert code == 0 and "holds the whole dream already (10 frames): nothing to resume" in said, said
    assert [index_of(f) for f in decoded(out)] == list(range(10))


def test_a_dream_of_another_input_or_none_is_not_gone_on_with(tmp_path) -> None:
    """Its frames and this input's would be spliced into one video, which no longer is a dream of either."""
    src, other = numbered_clip(tmp_path / "in.mp4", count=20), numbered_clip(tmp_path / "other.mp4", count=10)
    out = tmp_path / "out.mp4"
    code, said = dream(other, "-o", out, *FAST)
    assert code == 0, said
    code, said = dream(src, "-o", out, "--resume", *FAST)  # other.mp4's 10 frames would pass for the first 10
    assert code == 2 and "(input 'other.mp4' there, 'in.mp4' now; input_bytes" in said, said
    code, said = dream(other, "-o", out, "--resume", "--start", "0.1", *FAST)
    assert code == 2 and "(start 0.0 there, 0.1 now)" in said, said
    foreign = tmp_path / "foreign.mp4"
    write_numbered(foreign, range(5))  # a video no dream wrote
    code, said = dream(src, "-o", foreign, "--resume", *FAST)
    assert code == 2 and "it does not say what it is a dream of" in said, said
    assert len(decoded(foreign)) == 5 and len(decoded(out)) == 10


def test_resume_without_a_file_dreams_from_the_start(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=12)
    code, said = dream(src, "-o", tmp_path / "new.mp4", "--resume", *FAST)
    assert code == 0 and "nothing to resume at" in said and "dreaming from the start" in said
    assert len(decoded(tmp_path / "new.mp4")) == 12


def test_resume_of_a_dream_killed_before_its_first_frame_dreams_from_the_start(tmp_path) -> None:
    """Such a file was offered --resume, which then refused it ("it holds no frame"): a circle."""
    src = numbered_clip(tmp_path / "in.mp4", count=12)
    out = tmp_path / "out.mp4"
    header_only(out, dream_record(input="in.mp4"))
    code, said = dream(src, "-o", out, *FAST)
    assert code == 2 and "or --resume to go on" in said, said
    code, said = dream(src, "-o", out, "--resume", *FAST)
    assert code == 0 and f"{out} holds no frame yet (its dream was stopped before the first): dreaming from the " \
        "start" in said, said
    assert [index_of(f) for f in decoded(out)] == list(range(12))


def test_resume_after_a_torn_frame_says_so_and_joins_without_it(tmp_path) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=20)
    out = tmp_path / "out.mp4"
    code, said = dream(src, "-o", out, "--max-frames", "8", *FAST)
    assert code == 0, said
    with av.open(str(out)) as c:
        last = [p for p in c.demux(video=0) if p.size][-1]
    out.write_bytes(out.read_bytes()[:last.pos + last.size // 2])
    code, said = dream(src, "-o", out, "--resume", *FAST)
    assert code == 0 and "the last frame in" in said and "was cut short" in said, said
    assert "(20 frames (7 kept from the stopped dream)," in said, said
    assert [index_of(f) for f in decoded(out)] == list(range(20))


@pytest.mark.parametrize("args, message", [
    (["-o", "{tmp}/o.png"], "--resume goes on with a stopped dream of a video file, written to a video"),
    (["-o", "{tmp}/o.mp4", "--overwrite"], "--resume keeps the frames the output holds and --overwrite replaces them"),
    (["--preview"], "--resume goes on with the video that -o names"),
    (["-o", "{tmp}/other.mp4"], "cannot go on with"),
])
def test_resume_that_cannot_be_is_one_message(tmp_path, args, message) -> None:
    src = numbered_clip(tmp_path / "in.mp4", count=12)
    (tmp_path / "other.mp4").write_bytes(b"no video")
    code, said = dream(src, *[a.format(tmp=tmp_path) for a in args], "--resume", *FAST)
    assert code == 2 and message in said, said
    assert (tmp_path / "other.mp4").read_bytes() == b"no video"


def test_resume_of_a_webcam_or_a_folder_is_refused(tmp_path) -> None:
    code, said = dream("--webcam", "0", "-o", tmp_path / "cam.mp4", "--resume", *FAST)
    assert code == 2 and "--resume goes on with a stopped dream of a video file" in said
    (tmp_path / "photos").mkdir()
    code, said = dream(tmp_path / "photos", "-o", tmp_path / "dreams", "--resume", *FAST)
    assert code == 2 and "(--skip-existing goes on with a folder)" in said


def test_ctrl_c_says_that_resume_goes_on(tmp_path, dream_process) -> None:
    """A real interrupted run: its message points to --resume, which then finishes the video."""
    import signal

    src = numbered_clip(tmp_path / "in.mp4", count=300)
    out = tmp_path / "out.mp4"
    slow = FAST[:-1] + ["--iterations", "8"]  # some 12 s of work: the signal surely comes while it runs
    proc = dream_process.start(src, "-o", out, *slow)
    shown, buf = dream_process.read_until_frame(proc.stderr, 8)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, buf + err
    assert "done so far (the same command with --resume goes on from there)" in err, err
    kept = stopped_dream(out).frames
    code, said = dream(src, "-o", out, "--resume", *slow)  # the same settings: the record in the file says so
    assert code == 0 and f"({kept} kept from the stopped dream)" in said, said
    assert [index_of(f) for f in decoded(out)] == list(range(300))


@pytest.mark.parametrize("loop", ["host", "device"])
def test_the_dream_goes_on_across_the_seam(tmp_path, sample_photo, loop) -> None:
    """A still scene, blended strongly: each frame changes the dream a little. The first resumed frame must go on
    from the last kept one (its dream, the flow from the input frame before), not start afresh: dreamed afresh,
    the seam changed the picture 1.9x as much as the frames around it did. MJPEG, whose frames are all keyframes,
    so that the encoder adds no step of its own at the seam."""
    import cv2

    photo = cv2.resize(cv2.imread(str(sample_photo)), (160, 120))
    src = tmp_path / "still.avi"
    with VideoSink(src, 12.0, (160, 120)) as sink:
        for _ in range(12):
            sink.write(photo)
    out = tmp_path / "out.avi"
    settings = ["--model", "efficientnet_lite0", "--weights", "random", "--octaves", "2", "--iterations", "4",
                "--blend", "0.95", "--iterations-per-frame", "1", "--loop", loop, "--threads", "2", "-q"]
    assert dream(src, "-o", out, "--max-frames", "6", *settings)[0] == 0
    code, said = dream(src, "-o", out, "--resume", *settings)
    assert code == 0 and "(12 frames (6 kept from the stopped dream)" in said, said
    frames = [f.astype(float) for f in decoded(out)]
    steps = [np.abs(frames[i] - frames[i - 1]).mean() for i in range(1, len(frames))]
    seam, others = steps[5], steps[:5] + steps[6:]
    assert seam < 1.2 * np.median(others), steps


def test_a_stopped_gif_is_not_offered_nor_gone_on_with(tmp_path) -> None:
    """A GIF is written whole: its existing output does not suggest --resume, and --resume says why at once (it said
    the file was another program's, which vis had written itself)."""
    src = numbered_clip(tmp_path / "in.mp4", count=12)
    out = tmp_path / "out.gif"
    code, said = dream(src, "-o", out, "--max-frames", "3", *FAST)
    assert code == 0, said
    code, said = dream(src, "-o", out, *FAST)
    assert code == 2 and "exists" in said and "--resume" not in said, said
    code, said = dream(src, "-o", out, "--resume", *FAST)
    assert code == 2 and "cannot go on with " + str(out) + ": vis goes on with .mp4, .mov, .m4v, .mkv and .avi " \
        "files (a GIF is written whole)" in said, said
