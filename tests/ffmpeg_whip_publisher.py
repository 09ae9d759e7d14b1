"""FFmpeg's own WHIP muxer (through PyAV's bundled FFmpeg 8) as an independent WHIP client.

usage: python ffmpeg_whip_publisher.py URL TOKEN SECONDS
Publishes H.264 (no B-frames) of the stamped test picture, and Opus, for SECONDS, then closes.
Runs in its own process: the muxer blocks in C while it talks HTTP and ICE to the server.

The DTLS certificate is ours (P-256), not the muxer's: this FFmpeg is built with GnuTLS, whose
self-generated WHIP certificate is ECDSA on secp224r1. aiortc (OpenSSL) is the DTLS client here
(the muxer offers a=setup:passive) and, in DTLS 1.2, rejects a server certificate on a curve it did
not offer in supported_groups (x25519, P-256, x448, P-384, P-521) with a fatal illegal_parameter
alert, which the muxer reports as "DTLS session failed" and EIO from the header write.
"""

from __future__ import annotations

import datetime
import fractions
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from media_tools import HEIGHT, WIDTH, scene, stamp


def p256_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed ECDSA P-256 certificate and key (PEM files) for the muxer's DTLS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ffmpeg-whip-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def main(url: str, token: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = p256_certificate(Path(directory))
        publish(url, seconds, {"authorization": token, "cert_file": cert_file, "key_file": key_file})


def publish(url: str, seconds: float, options: dict[str, str]) -> None:
    output = av.open(url, mode="w", format="whip", options=options)
    video = output.add_stream("libx264", rate=30)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.options = {"bf": "0", "tune": "zerolatency", "preset": "ultrafast", "g": "30", "profile": "baseline"}
    audio = output.add_stream("libopus", rate=48000)
    audio.layout = "stereo"  # the muxer refuses mono Opus
    start = time.monotonic()
    count = 0
    samples = 0
    bank = [scene(i) for i in range(30)]
    while time.monotonic() - start < seconds:
        picture = bank[count % 30].copy()
        stamp(picture[:HEIGHT], count)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts, frame.time_base = count, fractions.Fraction(1, 30)
        for packet in video.encode(frame):
            output.mux(packet)
        while samples < (count + 1) * 1600:  # 48000 / 30 samples per video frame
            tone = (np.sin(2 * np.pi * 440 * (np.arange(960) + samples) / 48000) * 8000).astype(np.int16)
            sound = av.AudioFrame.from_ndarray(np.stack([tone, tone]).reshape(1, -1), format="s16", layout="stereo")
            sound.sample_rate, sound.pts, sound.time_base = 48000, samples, fractions.Fraction(1, 48000)
            for packet in audio.encode(sound):
                output.mux(packet)
            samples += 960
        count += 1
        time.sleep(max(0.0, start + count / 30 - time.monotonic()))
    output.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
