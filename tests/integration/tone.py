#!/usr/bin/python3
"""Tones for the end-to-end audio checks: make them, find them.

Each phone in a test call sends its own tone; the other side's recording
must carry that tone's frequency. "Audio arrived" then means what a person
would mean by it: the far end heard the near end, not just that packets
moved.

  tone.py wav --freq F --seconds S --out FILE
      8 kHz mono 16-bit WAV of a sine (baresip's audio source).
  tone.py pcap --freq F --seconds S --out FILE [--pt 8|0]
      Ethernet/IPv4/UDP/RTP frames of G.711 (PCMA pt 8, PCMU pt 0), 20 ms
      apart, for sipp's play_pcap_audio (sipp sends the UDP payloads and
      keeps the pcap's timing; the addresses are documentation ones).
  tone.py alaw --freq F --seconds S --out FILE
      Raw G.711 A-law, 8 kHz, no header (sipp's rtp_stream source: 160
      bytes a 20 ms packet, looped).
  tone.py analyze-wav FILE
  tone.py analyze-pcap FILE [--to-port P] [--from-port P]
      The dominant frequency, its share of the energy (a tone has nearly
      all of it in one peak; noise or silence does not), the level, and
      the duration: "freq_hz=F purity=P level_dbfs=L seconds=S". For a
      pcap: the G.711 RTP payloads of the UDP packets matching the ports,
      in capture order (any link type tcpdump writes for us: Ethernet,
      Linux cooked v1/v2, raw IP).
  tone.py check-wav FILE --freq F [--tolerance-hz 15] [--min-seconds 1]
  tone.py check-pcap FILE --freq F [--to-port P] [--from-port P] [...]
      The same, then exit 0 if the dominant frequency is within the
      tolerance of F, the purity at least 0.5, the level above -40 dBFS
      and at least --min-seconds of audio; exit 1 (saying why) otherwise.

Exit status 2: unreadable input or bad arguments. Runs on Debian's python3
(/usr/bin/python3, with python3-numpy from scripts/setup), whatever python3
comes first on PATH.
"""

import argparse
import math
import struct
import sys
import wave

import numpy

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
PURITY_MIN = 0.5
LEVEL_MIN_DBFS = -40.0

# --- G.711 (ITU-T G.711; the segment tables as in the recommendation) ------

_SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)


def _segment(value):
    for seg, end in enumerate(_SEG_END):
        if value <= end:
            return seg
    return len(_SEG_END)


def alaw_encode(sample):
    """16-bit linear -> A-law byte."""
    if sample >= 0:
        mask, value = 0xD5, sample
    else:
        mask, value = 0x55, -sample - 8
    seg = _segment(value)
    if seg >= 8:
        return 0x7F ^ mask
    shift = 4 if seg < 2 else seg + 3
    return ((seg << 4) | ((value >> shift) & 0x0F)) ^ mask


def alaw_decode(byte):
    byte ^= 0x55
    t = (byte & 0x0F) << 4
    seg = (byte & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if byte & 0x80 else -t


def ulaw_encode(sample):
    """16-bit linear -> mu-law byte."""
    bias = 0x84
    if sample < 0:
        mask, value = 0x7F, bias - sample
    else:
        mask, value = 0xFF, sample + bias
    seg = _segment(value)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 3)) & 0x0F)) ^ mask


def ulaw_decode(byte):
    byte = ~byte & 0xFF
    t = ((byte & 0x0F) << 3) + 0x84
    t <<= (byte & 0x70) >> 4
    return 0x84 - t if byte & 0x80 else t - 0x84


_ALAW_TABLE = numpy.array([alaw_decode(b) for b in range(256)], dtype=numpy.float64)
_ULAW_TABLE = numpy.array([ulaw_decode(b) for b in range(256)], dtype=numpy.float64)

# --- making tones ------------------------------------------------------------


def sine(freq, seconds, amplitude=0.5):
    n = int(round(seconds * SAMPLE_RATE))
    t = numpy.arange(n) / SAMPLE_RATE
    return numpy.round(amplitude * 32767 * numpy.sin(2 * math.pi * freq * t)).astype(int)


def write_wav(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(struct.pack("<%dh" % len(samples), *samples))


def _ip_checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_pcap(path, samples, payload_type):
    encode = alaw_encode if payload_type == 8 else ulaw_encode
    src, dst = bytes([192, 0, 2, 200]), bytes([203, 0, 113, 200])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    ssrc = 0x746F6E65 ^ int(samples.size)
    for i in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        seq = i // FRAME_SAMPLES
        payload = bytes(encode(int(s)) for s in samples[i:i + FRAME_SAMPLES])
        rtp = struct.pack("!BBHII", 0x80, payload_type | (0x80 if seq == 0 else 0),
                          seq & 0xFFFF, i & 0xFFFFFFFF, ssrc) + payload
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         src, dst)
        ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
        usec = seq * 20000
        out.append(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(frame), len(frame)))
        out.append(frame)
    with open(path, "wb") as f:
        f.write(b"".join(out))

# --- reading audio back ----------------------------------------------------------


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("%s: %d-byte samples; 16-bit expected" % (path, w.getsampwidth()))
        rate, channels = w.getframerate(), w.getnchannels()
        data = numpy.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(numpy.float64)
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0]
    return data, rate


def pcap_frames(path):
    """(link type, frame bytes, capture time in seconds) of each record of
    a classic pcap file (also read by scripts/lib/failover_media.py)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 24:
        raise ValueError("%s: not a pcap file" % path)
    magic = struct.unpack("<I", blob[:4])[0]
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("%s: not a classic pcap file (pcapng? write with tcpdump -w)" % path)
    linktype = struct.unpack(endian + "I", blob[20:24])[0]
    off = 24
    while off + 16 <= len(blob):
        sec, frac, incl = struct.unpack(endian + "III", blob[off:off + 12])
        yield linktype, blob[off + 16:off + 16 + incl], sec + frac / (1e9 if nano else 1e6)
        off += 16 + incl


def ip_packet(linktype, frame):
    if linktype == 1:  # Ethernet (one VLAN tag at most)
        ethertype, off = struct.unpack("!H", frame[12:14])[0], 14
        if ethertype == 0x8100:
            ethertype, off = struct.unpack("!H", frame[16:18])[0], 18
        return frame[off:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux cooked v1
        return frame[16:]
    if linktype == 276:  # Linux cooked v2
        return frame[20:]
    if linktype in (12, 101):  # raw IP
        return frame
    return None


def udp_payload(ip):
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
            return None  # not UDP, or a fragment
        udp = ip[ihl:]
    elif version == 6:
        if ip[6] != 17:
            return None
        udp = ip[40:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport = struct.unpack("!HH", udp[:4])
    return sport, dport, udp[8:]


def read_pcap_rtp(path, to_port=None, from_port=None):
    """G.711 samples of the RTP packets in a capture, in capture order."""
    chunks = []
    for linktype, frame, _ in pcap_frames(path):
        got = udp_payload(ip_packet(linktype, frame))
        if got is None:
            continue
        sport, dport, rtp = got
        if (to_port and dport != to_port) or (from_port and sport != from_port):
            continue
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        pt = rtp[1] & 0x7F
        if pt not in (0, 8):
            continue
        header = 12 + 4 * (rtp[0] & 0x0F)
        if rtp[0] & 0x10 and len(rtp) >= header + 4:  # header extension
            header += 4 + 4 * struct.unpack("!H", rtp[header + 2:header + 4])[0]
        payload = numpy.frombuffer(rtp[header:], dtype=numpy.uint8)
        chunks.append((_ALAW_TABLE if pt == 8 else _ULAW_TABLE)[payload])
    return (numpy.concatenate(chunks) if chunks else numpy.zeros(0)), SAMPLE_RATE

# --- finding the tone ---------------------------------------------------------------


def analyze(samples, rate):
    """Dominant frequency, the share of energy within +-20 Hz of it, level."""
    seconds = len(samples) / rate if rate else 0.0
    if len(samples) < rate // 10:
        return {"freq_hz": 0.0, "purity": 0.0, "level_dbfs": -120.0, "seconds": seconds}
    x = samples - numpy.mean(samples)
    rms = math.sqrt(float(numpy.mean(x * x)))
    level = 20 * math.log10(rms / 32768) if rms > 0 else -120.0
    spectrum = numpy.abs(numpy.fft.rfft(x * numpy.hanning(len(x)))) ** 2
    spectrum[0] = 0.0
    freqs = numpy.fft.rfftfreq(len(x), 1.0 / rate)
    peak = int(numpy.argmax(spectrum))
    total = float(numpy.sum(spectrum))
    near = float(numpy.sum(spectrum[numpy.abs(freqs - freqs[peak]) <= 20.0]))
    return {"freq_hz": float(freqs[peak]), "purity": near / total if total > 0 else 0.0,
            "level_dbfs": level, "seconds": seconds}


def describe(result):
    return "freq_hz=%.1f purity=%.2f level_dbfs=%.1f seconds=%.2f" % (
        result["freq_hz"], result["purity"], result["level_dbfs"], result["seconds"])


def verdict(result, freq, tolerance, min_seconds):
    """None if the result is the tone, else why not."""
    if result["seconds"] < min_seconds:
        return "only %.2f s of audio (want >= %.2f s)" % (result["seconds"], min_seconds)
    if result["level_dbfs"] < LEVEL_MIN_DBFS:
        return "silence (level %.1f dBFS)" % result["level_dbfs"]
    if result["purity"] < PURITY_MIN:
        return "no clear tone (purity %.2f)" % result["purity"]
    if abs(result["freq_hz"] - freq) > tolerance:
        return "tone at %.1f Hz, want %.1f Hz" % (result["freq_hz"], freq)
    return None


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("wav", "pcap", "alaw"):
        s = sub.add_parser(name)
        s.add_argument("--freq", type=float, required=True)
        s.add_argument("--seconds", type=float, required=True)
        s.add_argument("--out", required=True)
        if name == "pcap":
            s.add_argument("--pt", type=int, choices=(0, 8), default=8)
    for name in ("analyze-wav", "analyze-pcap", "check-wav", "check-pcap"):
        s = sub.add_parser(name)
        s.add_argument("file")
        if name.endswith("pcap"):
            s.add_argument("--to-port", type=int)
            s.add_argument("--from-port", type=int)
        if name.startswith("check"):
            s.add_argument("--freq", type=float, required=True)
            s.add_argument("--tolerance-hz", type=float, default=15.0)
            s.add_argument("--min-seconds", type=float, default=1.0)
    args = p.parse_args(argv)

    if args.cmd == "wav":
        write_wav(args.out, sine(args.freq, args.seconds))
        return 0
    if args.cmd == "pcap":
        write_pcap(args.out, sine(args.freq, args.seconds), args.pt)
        return 0
    if args.cmd == "alaw":
        with open(args.out, "wb") as f:
            f.write(bytes(alaw_encode(x) for x in sine(args.freq, args.seconds)))
        return 0
    try:
        if args.cmd.endswith("wav"):
            samples, rate = read_wav(args.file)
        else:
            samples, rate = read_pcap_rtp(args.file, args.to_port, args.from_port)
    except (OSError, ValueError, wave.Error, EOFError) as e:
        print("tone.py: %s" % e, file=sys.stderr)
        return 2
    result = analyze(samples, rate)
    if args.cmd.startswith("analyze"):
        print(describe(result))
        return 0
    why = verdict(result, args.freq, args.tolerance_hz, args.min_seconds)
    print("%s %s%s" % ("tone" if why is None else "NO TONE", describe(result),
                       "" if why is None else " (%s)" % why))
    return 0 if why is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
