"""The audio mixer and the active speaker, on synthetic audio and real PyAV frames with known answers."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from media_server.frames.audio import SILENCE_DBOV, ActiveSpeaker, AudioMixer

RATE, SAMPLES = 48000, 960
STEREO = SAMPLES * 2


def noise(rng: np.random.Generator, loud: bool = False) -> NDArray[np.int16]:
    """One 20 ms stereo chunk as av gives it, (1, 1920); `loud` ones sit near full scale."""
    low, high = (20000, 32768) if loud else (-32768, 32768)
    values = rng.integers(low, high, size=(1, STEREO), dtype=np.int32)
    if loud:
        values *= rng.choice([-1, 1], size=values.shape)
    return np.clip(values, -32768, 32767).astype(np.int16)


def wide_sum(chunks: Iterable[NDArray[np.integer]]) -> NDArray[np.int64]:
    return np.sum([chunk.reshape(-1).astype(np.int64) for chunk in chunks], axis=0)


def clipped(total: NDArray[np.int64]) -> NDArray[np.int16]:
    return np.clip(total, -32768, 32767).astype(np.int16)


def tone(frequency: float, amplitude: float, rate: int, start: int, count: int) -> NDArray[np.float64]:
    t = (start + np.arange(count)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


# --- mixing ---------------------------------------------------------------------------------------


def test_mix_is_the_clipped_sum_of_its_inputs() -> None:
    rng = np.random.default_rng(1)
    chunks = {f"p{i}": noise(rng, loud=i % 2 == 0) for i in range(9)}
    mixer = AudioMixer()

    out = mixer.mix(chunks)

    total = wide_sum(chunks.values())
    assert (np.abs(total) > 32767).mean() > 0.1, "the inputs must be loud enough to clip"
    assert out.dtype == np.int16 and out.shape == (STEREO,)
    np.testing.assert_array_equal(out, clipped(total))


def test_repeated_mixes_start_from_silence_and_return_separate_arrays() -> None:
    rng = np.random.default_rng(2)
    mixer = AudioMixer()
    first_chunks = {"a": noise(rng), "b": noise(rng)}
    first = mixer.mix(first_chunks)
    kept = first.copy()
    second = mixer.mix({"c": noise(rng)})

    np.testing.assert_array_equal(first, kept)  # the caller's array is not the mixer's buffer
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(mixer.mix({}), np.zeros(STEREO, np.int16))


def test_gain_and_mute() -> None:
    mixer = AudioMixer()
    mixer.set_gain("quiet", 0.5)
    mixer.set_gain("loud", 2.0)
    mixer.set_muted("muted", True)
    chunks = {
        "quiet": np.full(STEREO, 1000, np.int16),
        "loud": np.full(STEREO, -3000, np.int16),
        "muted": np.full(STEREO, 7000, np.int16),
        "plain": np.full(STEREO, 123, np.int16),
    }
    np.testing.assert_array_equal(mixer.mix(chunks), np.full(STEREO, 500 - 6000 + 123, np.int16))

    mixer.set_muted("muted", False)
    mixer.set_gain("loud", 0.0)
    np.testing.assert_array_equal(mixer.mix(chunks), np.full(STEREO, 500 + 7000 + 123, np.int16))

    mixer.set_gain("loud", 4.0)  # -12000 and 7000 and more: +12 dB pushes past full scale
    chunks["loud"] = np.full(STEREO, -30000, np.int16)
    np.testing.assert_array_equal(mixer.mix(chunks), np.full(STEREO, -32768, np.int16))


def test_fractional_gain_rounds_to_the_nearest_sample() -> None:
    rng = np.random.default_rng(3)
    mixer = AudioMixer()
    gains = {"a": 0.7, "b": 1.3, "c": 0.05}
    for source_id, gain in gains.items():
        mixer.set_gain(source_id, gain)
    chunks = {source_id: noise(rng) for source_id in gains}

    out = mixer.mix(chunks).astype(np.int64)

    exact = sum(chunks[s].reshape(-1) * mixer.gain(s) for s in gains)
    expected = np.clip(np.round(exact), -32768, 32767)
    assert np.abs(out - expected).max() <= len(gains)  # at most half a step per source
    assert mixer.gain("a") == pytest.approx(0.7, abs=1 / 4096)


@pytest.mark.parametrize("gain", [-0.1, 4.01, float("nan"), float("inf"), "1"])
def test_bad_gain_is_refused_and_changes_nothing(gain: object) -> None:
    mixer = AudioMixer()
    mixer.set_gain("a", 2.0)
    with pytest.raises(ValueError, match="a: gain"):
        mixer.set_gain("a", gain)  # type: ignore[arg-type]
    assert mixer.gain("a") == 2.0


def test_mono_source_is_upmixed_to_both_channels() -> None:
    rng = np.random.default_rng(4)
    mono = rng.integers(-10000, 10000, size=(SAMPLES, 1), dtype=np.int16)
    stereo = noise(rng).reshape(SAMPLES, 2) // 4

    out = AudioMixer().mix({"phone": mono, "camera": stereo}).reshape(SAMPLES, 2)

    np.testing.assert_array_equal(out[:, 0], mono[:, 0] + stereo[:, 0])
    np.testing.assert_array_equal(out[:, 1], mono[:, 0] + stereo[:, 1])


def test_missing_and_short_sources_are_silence() -> None:
    rng = np.random.default_rng(5)
    mixer = AudioMixer()
    mixer.set_gain("absent", 2.0)
    full = noise(rng) // 2
    short = (noise(rng) // 2)[:, : STEREO // 2]  # 10 ms
    mixer.mix({"full": noise(rng), "short": noise(rng)})  # a tick before, when both were whole

    out = mixer.mix({"full": full, "short": short})

    np.testing.assert_array_equal(out[: STEREO // 2], full[0, : STEREO // 2] + short[0])
    np.testing.assert_array_equal(out[STEREO // 2 :], full[0, STEREO // 2 :])
    np.testing.assert_array_equal(AudioMixer().mix({"only": full}), full[0])


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (np.zeros(STEREO + 2, np.int16), "more than one frame"),
        (np.zeros(STEREO, np.float32), "int16"),
        (np.zeros(STEREO - 1, np.int16), "do not divide"),
        (np.zeros((2, SAMPLES), np.int16), "shape"),  # planar s16p, not packed
    ],
)
def test_bad_chunk_is_refused_and_the_last_mix_survives(chunk: NDArray[np.int16], message: str) -> None:
    rng = np.random.default_rng(6)
    mixer = AudioMixer()
    chunks = {"a": noise(rng), "b": noise(rng)}
    mixer.mix(chunks)

    with pytest.raises(ValueError, match=message):
        mixer.mix({"a": noise(rng), "bad": chunk})

    np.testing.assert_array_equal(mixer.last_mix_without("a"), chunks["b"][0])


def test_mix_minus_leaves_out_exactly_the_excluded_source() -> None:
    rng = np.random.default_rng(7)
    mixer = AudioMixer()
    mixer.set_gain("p1", 0.25)
    mixer.set_gain("p2", 3.0)
    mixer.set_muted("p5", True)
    chunks: dict[str, NDArray[np.int16]] = {f"p{i}": noise(rng, loud=i < 3) for i in range(6)}
    chunks["p1"] &= ~3  # multiples of 4, so a quarter of them is exact
    chunks["p2"] //= 3
    chunks["mono"] = rng.integers(-20000, 20000, size=(SAMPLES, 1), dtype=np.int16)
    # What each source puts into the mix, worked out by hand.
    alone = {s: c.astype(np.int64) for s, c in chunks.items()}
    alone["p1"] //= 4
    alone["p2"] *= 3
    alone["p5"] *= 0
    alone["mono"] = np.repeat(alone["mono"], 2, axis=1)
    full = mixer.mix(chunks)
    assert (np.abs(wide_sum(alone.values())) > 32767).any(), "the full mix must clip for this test to mean anything"

    for excluded in chunks:
        expected = clipped(wide_sum(c for s, c in alone.items() if s != excluded))
        np.testing.assert_array_equal(mixer.mix_minus(chunks, exclude=excluded), expected, err_msg=excluded)
        np.testing.assert_array_equal(mixer.last_mix_without(excluded), expected, err_msg=excluded)
    np.testing.assert_array_equal(mixer.last_mix_without("nobody"), full)


# --- av frames ------------------------------------------------------------------------------------


def s16_frame(samples: NDArray[np.float64], layout: str, rate: int, pts: int) -> av.AudioFrame:
    """samples: (count, channels) floats in int16 units."""
    frame = av.AudioFrame.from_ndarray(samples.astype(np.int16).reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
    return frame


def fltp_frame(samples: NDArray[np.float64], rate: int, pts: int) -> av.AudioFrame:
    """Planar float stereo, as a decoder other than aiortc's Opus might give."""
    planar = np.ascontiguousarray((samples / 32768.0).T.astype(np.float32))
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
    return frame


def spectrum(samples: NDArray[np.int16]) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Amplitude spectrum of one channel (Hann window, amplitude-corrected) and its frequencies."""
    window = np.hanning(len(samples))
    amplitude = np.abs(np.fft.rfft(samples * window)) * 2 / window.sum()
    return np.fft.rfftfreq(len(samples), 1 / RATE), amplitude


def test_mix_frames_converts_rates_and_layouts_and_keeps_the_tones() -> None:
    mixer = AudioMixer()
    ticks, out_frames = 25, []
    for tick in range(ticks):
        # a 16 kHz mono phone at 1 kHz, a 44.1 kHz planar-float stereo camera at 2.5 kHz
        phone = tone(1000, 8000, 16000, tick * 320, 320)[:, None]
        camera = np.repeat(tone(2500, 4000, 44100, tick * 882, 882)[:, None], 2, axis=1)
        frames = {
            "phone": s16_frame(phone, "mono", 16000, tick * 320),
            "camera": fltp_frame(camera, 44100, tick * 882),
            "gone": None,
        }
        out_frames.append(mixer.mix_frames(frames, pts=tick * SAMPLES))

    last = out_frames[-1]
    assert (last.pts, last.time_base, last.sample_rate) == (24 * SAMPLES, Fraction(1, RATE), RATE)
    assert (last.format.name, last.layout.name, last.samples) == ("s16", "stereo", SAMPLES)

    # Skip the first tick: the resamplers' start-up delay is padded with silence there.
    stream = np.concatenate([frame.to_ndarray().reshape(-1, 2) for frame in out_frames[1:]])
    for channel in (0, 1):
        freqs, amplitude = spectrum(stream[:, channel])
        rest = amplitude.copy()
        for expected_hz, expected_amplitude in ((1000, 8000), (2500, 4000)):
            peak = np.argmax(rest)
            assert freqs[peak] == pytest.approx(expected_hz, abs=freqs[1])
            assert amplitude[peak] == pytest.approx(expected_amplitude, rel=0.05)
            rest[np.abs(freqs - expected_hz) < 100] = 0
        # nothing else of note: no clicks from gaps or dropped samples between ticks
        assert rest.max() < 8000 * 0.01


def test_frames_of_another_size_play_on_without_gaps() -> None:
    """An encoder with 1024-sample frames (AAC) at 48 kHz: a frame arrives on 15 ticks out of 16."""
    mixer = AudioMixer()
    sound = tone(440, 6000, RATE, 0, 1024 * 45)
    played, delivered = [], 0
    for tick in range(50):
        arrived = delivered < 45 and (delivered + 1) * 1024 <= (tick + 1) * SAMPLES
        frame = None
        if arrived:
            samples = np.repeat(sound[delivered * 1024 : (delivered + 1) * 1024, None], 2, axis=1)
            frame = s16_frame(samples, "stereo", RATE, delivered * 1024)
            delivered += 1
        played.append(mixer.mix_frames({"aac": frame}, pts=tick * SAMPLES).to_ndarray().reshape(-1, 2))

    stream = np.concatenate(played)[:, 0]
    start = SAMPLES  # nothing had arrived by the end of the first tick
    np.testing.assert_array_equal(stream[:start], 0)
    np.testing.assert_array_equal(stream[start : start + len(sound)], sound.astype(np.int16))


def test_mix_frames_takes_48k_frames_as_they_are_and_upmixes_mono() -> None:
    mixer = AudioMixer()
    left_right = np.stack([tone(1000, 5000, RATE, 0, SAMPLES), tone(1000, -5000, RATE, 0, SAMPLES)], axis=1)
    mono = tone(1000, 3000, RATE, 0, SAMPLES)[:, None]
    frames = {"stereo": s16_frame(left_right, "stereo", RATE, 0), "mono": s16_frame(mono, "mono", RATE, 0)}

    out = mixer.mix_frames(frames, pts=4800).to_ndarray().reshape(-1, 2)

    expected = left_right.astype(np.int16) + mono.astype(np.int16)
    np.testing.assert_array_equal(out, expected)
    minus = mixer.to_frame(mixer.last_mix_without("stereo"), pts=4800)
    np.testing.assert_array_equal(minus.to_ndarray().reshape(-1, 2), np.repeat(mono.astype(np.int16), 2, axis=1))
    assert (minus.pts, minus.time_base, minus.sample_rate) == (4800, Fraction(1, RATE), RATE)


# --- levels ---------------------------------------------------------------------------------------


def test_levels_in_dbov_of_known_sines() -> None:
    mixer = AudioMixer()
    mixer.set_gain("halved", 0.5)
    mixer.set_muted("muted", True)
    sine = tone(1000, 1, RATE, 0, SAMPLES)  # exactly 20 periods in 20 ms
    stereo = np.repeat(sine[:, None], 2, axis=1)
    chunks = {
        "full": (stereo * 32767).astype(np.int16),
        "tenth": (stereo * 3277).astype(np.int16),
        "halved": (stereo * 32767).astype(np.int16),
        "mono": (sine[:, None] * 3277).astype(np.int16),
        "muted": (stereo * 32767).astype(np.int16),
        "silent": np.zeros((SAMPLES, 2), np.int16),
    }
    mixer.mix(chunks)

    levels = mixer.levels()

    assert levels.keys() == chunks.keys()
    assert levels["full"] == pytest.approx(-3.01, abs=0.02)  # full-scale sine: RMS is 1/sqrt(2)
    assert levels["tenth"] == pytest.approx(-23.01, abs=0.02)
    assert levels["mono"] == pytest.approx(-23.01, abs=0.02)
    assert levels["halved"] == pytest.approx(-9.03, abs=0.02)
    assert levels["muted"] == levels["silent"] == SILENCE_DBOV


# --- active speaker -------------------------------------------------------------------------------

SPEECH, COUGH, MURMUR = -25.0, -10.0, -60.0


class Meeting:
    """Feeds an ActiveSpeaker 20 ms ticks of levels, as the program feed will."""

    def __init__(self, speaker: ActiveSpeaker) -> None:
        self.speaker = speaker
        self.now_ms = 0

    def run(self, ms: int, **levels: float) -> list[tuple[int, str | None]]:
        """Runs `ms` of these levels (others silent); returns (time, active speaker) per tick."""
        history = []
        for _ in range(ms // 20):
            self.now_ms += 20
            history.append((self.now_ms, self.speaker.update(levels, self.now_ms)))
        return history


def test_nobody_is_active_until_someone_speaks() -> None:
    meeting = Meeting(ActiveSpeaker())
    assert meeting.run(2000, a=MURMUR, b=SILENCE_DBOV)[-1] == (2000, None)
    assert meeting.run(600, a=SPEECH)[-1][1] == "a"


def test_sustained_louder_speech_switches() -> None:
    meeting = Meeting(ActiveSpeaker())
    meeting.run(2000, a=SPEECH)
    history = meeting.run(600, b=SPEECH)  # a stops, b answers
    assert history[-1][1] == "b"
    assert history[4][1] == "a"  # not at once: 100 ms in, a is still the speaker


def test_speech_with_pauses_between_words_switches() -> None:
    meeting = Meeting(ActiveSpeaker())
    meeting.run(2000, a=SPEECH)
    history = []
    for _ in range(5):  # 200 ms words, 100 ms pauses
        history += meeting.run(200, b=SPEECH) + meeting.run(100, b=MURMUR)
    assert history[-1][1] == "b"


def test_a_cough_does_not_switch() -> None:
    meeting = Meeting(ActiveSpeaker())
    meeting.run(2000, a=SPEECH)
    meeting.run(1000, a=MURMUR)  # a pauses; a long quiet moment, past any hold
    history = meeting.run(140, a=MURMUR, b=COUGH) + meeting.run(1000, a=MURMUR)
    assert {speaker for _, speaker in history} == {"a"}
    # nor a cough over a's speech, nor two people speaking at the same level
    history = meeting.run(140, a=SPEECH, b=COUGH) + meeting.run(2000, a=SPEECH, b=SPEECH + 3)
    assert {speaker for _, speaker in history} == {"a"}


def test_the_current_speaker_holds_for_hold_ms() -> None:
    meeting = Meeting(ActiveSpeaker(hold_ms=1500, min_speech_ms=300))
    history = meeting.run(600, a=SPEECH)
    became_a = next(t for t, speaker in history if speaker == "a")
    history = meeting.run(2000, b=SPEECH)  # b answers at once and talks on
    became_b = next(t for t, speaker in history if speaker == "b")
    assert became_b - became_a == 1500  # b was ready long before; the hold let a keep the floor


def test_silence_keeps_the_last_speaker() -> None:
    meeting = Meeting(ActiveSpeaker())
    meeting.run(600, a=SPEECH)
    history = meeting.run(10_000, a=SILENCE_DBOV, b=MURMUR) + meeting.run(1000)
    assert {speaker for _, speaker in history} == {"a"}


def test_removing_the_current_speaker() -> None:
    speaker = ActiveSpeaker()
    meeting = Meeting(speaker)
    meeting.run(600, a=SPEECH)
    speaker.remove("a")
    assert speaker.current is None
    history = meeting.run(600, b=SPEECH)
    assert history[-1][1] == "b"  # no hold after the speaker left, just the usual evidence
    speaker.remove("nobody")
    assert speaker.current == "b"


def test_time_going_backwards_is_refused() -> None:
    speaker = ActiveSpeaker()
    speaker.update({"a": SPEECH}, 1000)
    with pytest.raises(ValueError, match="backwards"):
        speaker.update({"a": SPEECH}, 980)
