// Every reason the dataplane drops a packet, declared once (VPP style) and
// expanded into the enum, the names `rtplatchctl stats` prints, and the
// per-lcore counter array.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rtplatch {

#define RTPLATCH_DROP_REASONS(X)                                          \
  X(kMalformed, "malformed", "frame too short or bad IP/UDP header")     \
  X(kNotRtp, "not_rtp", "payload is not RTP/RTCP version 2")             \
  X(kStun, "stun",                                                       \
    "STUN message on a stream without ICE, or not a Binding request")   \
  X(kStunUnauthenticated, "stun_unauthenticated",                        \
    "ICE check without the stream's ufrag or a valid MESSAGE-INTEGRITY") \
  X(kUnknownStream, "unknown_stream", "relay port has no stream")        \
  X(kNotLatchedPeer, "not_latched_peer", "source is not the locked peer")\
  X(kLearningWindowClosed, "learning_window_closed",                    \
    "locked stream: new source at the signalled IP after the window")   \
  X(kNotSignalledAddress, "not_signalled_address",                       \
    "policy requires the SDP address and the source differs")           \
  X(kRtcpNotFromRtpPeer, "rtcp_not_from_rtp_peer",                       \
    "RTCP from an address its RTP port has not latched to")             \
  X(kNoPeerKnown, "no_peer_known",                                       \
    "partner got neither a learned nor a signalled peer within the hold time") \
  X(kNextHopUnknown, "next_hop_unknown",                                 \
    "no MAC learned yet for the next hop (solicited)")                   \
  X(kHandoffFull, "handoff_full", "ring to the owning lcore was full")   \
  X(kTxFull, "tx_full", "device accepted fewer packets than offered")    \
  X(kExceptionFull, "exception_full", "exception-path tx was full")      \
  X(kNoHeadroom, "no_headroom", "no room to grow IPv4 to IPv6 header")   \
  X(kNoExceptionPort, "no_exception_port",                               \
    "frame for the kernel but no exception port is configured")         \
  X(kKeepaliveNoMbuf, "keepalive_no_mbuf",                               \
    "keepalive due but the mbuf pool was empty (retried next interval)") \
  X(kKeepaliveNextHopUnknown, "keepalive_next_hop_unknown",              \
    "keepalive target's next hop has no MAC yet (solicited)")      \
  X(kAddressNotHeld, "address_not_held",                                 \
    "relay port of a standby address this node does not hold now")     \
  X(kKeepaliveNotHeld, "keepalive_not_held",                             \
    "keepalive due from a standby address this node does not hold (not sent)") \
  X(kExceptionNotHeld, "exception_not_held",                             \
    "the kernel's frame from a standby address this node does not hold")

enum class DropReason : uint8_t {
#define RTPLATCH_DROP_ENUM(id, name, help) id,
  RTPLATCH_DROP_REASONS(RTPLATCH_DROP_ENUM)
#undef RTPLATCH_DROP_ENUM
};

inline constexpr size_t kDropReasonCount = 0
#define RTPLATCH_DROP_COUNT(id, name, help) +1
    RTPLATCH_DROP_REASONS(RTPLATCH_DROP_COUNT)
#undef RTPLATCH_DROP_COUNT
    ;

inline constexpr std::array<std::string_view, kDropReasonCount>
    kDropReasonNames = {
#define RTPLATCH_DROP_NAME(id, name, help) name,
        RTPLATCH_DROP_REASONS(RTPLATCH_DROP_NAME)
#undef RTPLATCH_DROP_NAME
};

inline constexpr std::array<std::string_view, kDropReasonCount>
    kDropReasonHelp = {
#define RTPLATCH_DROP_HELP(id, name, help) help,
        RTPLATCH_DROP_REASONS(RTPLATCH_DROP_HELP)
#undef RTPLATCH_DROP_HELP
};

constexpr std::string_view DropReasonName(DropReason r) {
  return kDropReasonNames[static_cast<size_t>(r)];
}

}  // namespace rtplatch
