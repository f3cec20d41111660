#include "dataplane/fastpath/latch.h"

namespace rtplatch {
namespace {

constexpr LatchDecision Forward() { return {LatchVerdict::kForward, {}}; }
constexpr LatchDecision Latch() { return {LatchVerdict::kLatch, {}}; }
constexpr LatchDecision Relatch() { return {LatchVerdict::kRelatch, {}}; }
constexpr LatchDecision Drop(DropReason r) { return {LatchVerdict::kDrop, r}; }

bool IsPeer(const Flow& f, const PacketSource& src) {
  return f.peer_port == src.port && f.peer_ip == src.ip;
}

bool FromSignalledIp(const Flow& f, const PacketSource& src) {
  return !f.expected_ip.is_unspecified() && f.expected_ip == src.ip;
}

bool WindowOpen(const Flow& f, uint64_t now_ns, const LatchConfig& c) {
  return f.window_packets < c.window_packets &&
         now_ns - f.window_start_ns < c.window_ns;
}

LatchDecision DecideAsymmetric(const Flow& f, const PacketSource& src) {
  // Never latch: the phone sends from one port and listens on another.
  return FromSignalledIp(f, src) ? Forward()
                                 : Drop(DropReason::kNotSignalledAddress);
}

LatchDecision DecideUnlatched(const Flow& f, const PacketSource& src) {
  if (f.policy == LatchPolicy::kStrict && !FromSignalledIp(f, src)) {
    return Drop(DropReason::kNotSignalledAddress);
  }
  return Latch();
}

LatchDecision DecideLatchedNewSource(const Flow& f, const PacketSource& src,
                                     uint64_t now_ns, const LatchConfig& c) {
  if (f.state == LatchState::kLearning && WindowOpen(f, now_ns, c)) {
    // Prefer the signalled address if it shows up while we learn.
    bool peer_is_signalled = f.expected_ip == f.peer_ip;
    if (FromSignalledIp(f, src) && !peer_is_signalled) return Relatch();
    return Drop(DropReason::kNotLatchedPeer);
  }
  // Locked: NAT rebinding is the only reason to move, and only after the
  // locked peer fell silent.
  bool peer_silent = now_ns - f.last_rx_ns >= c.relatch_silence_ns;
  bool continuity = src.ip == f.peer_ip || src.ssrc == f.ssrc;
  bool policy_ok = f.policy != LatchPolicy::kStrict || FromSignalledIp(f, src);
  if (peer_silent && continuity && policy_ok) return Relatch();
  return Drop(FromSignalledIp(f, src) ? DropReason::kLearningWindowClosed
                                      : DropReason::kNotLatchedPeer);
}

}  // namespace

LatchDecision DecideLatch(const Flow& flow, const PacketSource& src,
                          uint64_t now_ns, const LatchConfig& config) {
  if (flow.policy == LatchPolicy::kAsymmetric) return DecideAsymmetric(flow, src);
  switch (flow.state) {
    case LatchState::kFree:
      return Drop(DropReason::kUnknownStream);
    case LatchState::kUnlatched:
      return DecideUnlatched(flow, src);
    case LatchState::kLearning:
    case LatchState::kLocked:
      if (IsPeer(flow, src)) return Forward();
      return DecideLatchedNewSource(flow, src, now_ns, config);
  }
  return Drop(DropReason::kUnknownStream);
}

bool ApplyLatch(Flow& flow, LatchDecision decision, const PacketSource& src,
                uint64_t now_ns, const LatchConfig& config) {
  switch (decision.verdict) {
    case LatchVerdict::kDrop:
      return false;
    case LatchVerdict::kForward:
      if (flow.state == LatchState::kLearning) {
        ++flow.window_packets;
        if (!WindowOpen(flow, now_ns, config)) {
          SeqlockBeginWrite(flow);
          flow.state = LatchState::kLocked;
          SeqlockEndWrite(flow);
        }
      }
      return false;
    case LatchVerdict::kLatch:
    case LatchVerdict::kRelatch:
      break;
  }
  SeqlockBeginWrite(flow);
  if (decision.verdict == LatchVerdict::kLatch) {
    flow.window_start_ns = now_ns;
    flow.window_packets = 1;
    flow.state = WindowOpen(flow, now_ns, config) ? LatchState::kLearning
                                                  : LatchState::kLocked;
  } else {
    ++flow.relatches;
  }
  flow.peer_ip = src.ip;
  flow.peer_port = src.port;
  flow.ssrc = src.ssrc;
  SeqlockEndWrite(flow);
  return true;
}

}  // namespace rtplatch
