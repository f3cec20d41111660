// Learning how long a phone's NAT keeps its UDP mapping alive, whatever
// the NAT does with ports (design.md failure mode "NAT UDP timeout shorter
// than the keepalive interval"). A port-preserving NAT gives a phone the
// same source port after its mapping died, so a re-REGISTER cannot tell
// that keepalives were too slow; only a probe across a silent gap can.
//
// The control plane sends a new NAT'd UDP binding a SIP OPTIONS from the
// socket it registered on after gaps of silence that grow from the floor
// (5 s, 10 s, 20 s, ... up to the ceiling, the initial interval). An
// answer proves the mapping outlived that gap (and refreshes it); the
// first probe left unanswered after answered ones means the NAT dropped
// the mapping within that gap. The keepalive interval becomes the longest
// gap that held, less a margin, never below the floor. While probing, the
// probes are the keepalives; once learned, the dataplane sends them.
//
// A pure state machine, like DecideLatch: the caller owns the clock, the
// OPTIONS and the keepalive targets, and feeds events in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rtplatch {

struct KeepaliveLearningConfig {
  uint32_t floor_ms = 5000;     // the first gap, and the shortest interval
  uint32_t ceiling_ms = 25000;  // the longest gap probed: the initial interval
  // A probe not answered within this long counts as lost (its transaction
  // may still retransmit; a late answer changes nothing).
  uint32_t answer_timeout_ms = 4000;
  // A phone whose own traffic never leaves a gap this long silent (its
  // keepalives, REGISTERs every 20 s) would keep learning for ever: at
  // this age the learning settles on what it has.
  uint32_t max_learning_ms = 180000;
};

struct KeepaliveLearning {
  enum class Phase : uint8_t { kProbing, kLearned };

  Phase phase = Phase::kProbing;
  uint32_t gap_ms = 0;     // the silence the next (or outstanding) probe tests
  uint32_t held_ms = 0;    // the longest gap answered so far (0: none yet)
  int64_t quiet_since_ms = 0;  // the last packet on the mapping we know of
  int64_t started_ms = 0;
  std::optional<int64_t> probe_sent_ms;  // a probe is outstanding
  uint64_t probe_id = 0;  // the outstanding (or last) probe's; answers name it
  uint32_t interval_ms = 0;  // kLearned: the keepalive interval
  std::string reason;        // why interval_ms, for `rtplatchctl registration`
};

// A binding whose mapping was last used at `now_ms` (its REGISTER).
KeepaliveLearning StartLearning(const KeepaliveLearningConfig& config, int64_t now_ms);

// When the next probe is due; nullopt when learned or one is outstanding.
std::optional<int64_t> ProbeDueAt(const KeepaliveLearning& l);
// When the learning settles regardless (config.max_learning_ms after its
// start); nullopt once learned.
std::optional<int64_t> LearningDeadlineAt(const KeepaliveLearning& l,
                                          const KeepaliveLearningConfig& config);
// The deadline passed: the longest gap that held less a fifth (the floor
// if none held), with a reason saying the phone's traffic cut it short.
void OnLearningDeadline(KeepaliveLearning& l, const KeepaliveLearningConfig& config);
// When the outstanding probe counts as lost; nullopt if none is.
std::optional<int64_t> ProbeLostAt(const KeepaliveLearning& l,
                                   const KeepaliveLearningConfig& config);

// A probe went out; it is `++probe_id`.
void OnProbeSent(KeepaliveLearning& l, int64_t now_ms);
// The phone answered: the mapping outlived gap_ms. The next gap doubles,
// up to the ceiling; an answered ceiling ends the learning there.
void OnProbeAnswered(KeepaliveLearning& l, const KeepaliveLearningConfig& config,
                     int64_t now_ms);
// No answer in time: the NAT forgot the mapping within gap_ms. Learned:
// the longest gap that held, less a fifth, not below the floor.
void OnProbeLost(KeepaliveLearning& l, const KeepaliveLearningConfig& config);
// A packet from the phone on the mapping (a request, a response; not the
// probe's own answer): the gap being tested restarts from now, so a probe
// always crosses real silence. An outstanding probe is void: the phone's
// packet may have re-opened a mapping the probe found dead, and its answer
// would then prove nothing; the same gap is tested again.
void OnHeardFrom(KeepaliveLearning& l, int64_t now_ms);

}  // namespace rtplatch
