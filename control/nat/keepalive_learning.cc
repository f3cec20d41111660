#include "control/nat/keepalive_learning.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

// A gap that held may be close to the NAT's timeout: keepalives go out a
// fifth sooner than the longest silence the mapping survived.
constexpr uint32_t kMarginDivisor = 5;

std::string Seconds(uint32_t ms) {
  return ms % 1000 == 0 ? absl::StrCat(ms / 1000, " s") : absl::StrCat(ms, " ms");
}

void Learned(KeepaliveLearning& l, uint32_t interval_ms, std::string reason) {
  l.phase = KeepaliveLearning::Phase::kLearned;
  l.interval_ms = interval_ms;
  l.reason = std::move(reason);
  l.probe_sent_ms.reset();
}

}  // namespace

KeepaliveLearning StartLearning(const KeepaliveLearningConfig& config, int64_t now_ms) {
  KeepaliveLearning l;
  l.gap_ms = std::min(config.floor_ms, config.ceiling_ms);
  l.quiet_since_ms = now_ms;
  l.started_ms = now_ms;
  l.reason = absl::StrCat("learning: probing a ", Seconds(l.gap_ms), " gap");
  return l;
}

std::optional<int64_t> ProbeDueAt(const KeepaliveLearning& l) {
  if (l.phase != KeepaliveLearning::Phase::kProbing || l.probe_sent_ms) return std::nullopt;
  return l.quiet_since_ms + l.gap_ms;
}

std::optional<int64_t> ProbeLostAt(const KeepaliveLearning& l,
                                   const KeepaliveLearningConfig& config) {
  if (!l.probe_sent_ms) return std::nullopt;
  return *l.probe_sent_ms + config.answer_timeout_ms;
}

void OnProbeSent(KeepaliveLearning& l, int64_t now_ms) {
  if (l.phase != KeepaliveLearning::Phase::kProbing) return;
  l.probe_sent_ms = now_ms;
  ++l.probe_id;
}

std::optional<int64_t> LearningDeadlineAt(const KeepaliveLearning& l,
                                          const KeepaliveLearningConfig& config) {
  if (l.phase != KeepaliveLearning::Phase::kProbing) return std::nullopt;
  return l.started_ms + config.max_learning_ms;
}

void OnLearningDeadline(KeepaliveLearning& l, const KeepaliveLearningConfig& config) {
  if (l.phase != KeepaliveLearning::Phase::kProbing) return;
  const uint32_t interval =
      std::max(config.floor_ms, l.held_ms - l.held_ms / kMarginDivisor);
  Learned(l, interval,
          absl::StrCat("learned: the phone's own traffic left no ", Seconds(l.gap_ms),
                       " gap silent in ", Seconds(config.max_learning_ms),
                       l.held_ms > 0 ? absl::StrCat("; NAT held ", Seconds(l.held_ms)) : "",
                       "; interval ", Seconds(interval),
                       interval == config.floor_ms ? " (floor)" : ""));
}

void OnProbeAnswered(KeepaliveLearning& l, const KeepaliveLearningConfig& config,
                     int64_t now_ms) {
  if (l.phase != KeepaliveLearning::Phase::kProbing || !l.probe_sent_ms) return;
  l.probe_sent_ms.reset();
  l.held_ms = l.gap_ms;
  l.quiet_since_ms = now_ms;
  if (l.gap_ms >= config.ceiling_ms) {
    Learned(l, config.ceiling_ms,
            absl::StrCat("learned: NAT held a ", Seconds(l.held_ms), " gap; interval ",
                         Seconds(config.ceiling_ms), " (the initial one)"));
    return;
  }
  l.gap_ms = std::min(l.gap_ms * 2, config.ceiling_ms);
  l.reason = absl::StrCat("learning: NAT held ", Seconds(l.held_ms), "; probing ",
                          Seconds(l.gap_ms));
}

void OnProbeLost(KeepaliveLearning& l, const KeepaliveLearningConfig& config) {
  if (l.phase != KeepaliveLearning::Phase::kProbing || !l.probe_sent_ms) return;
  const uint32_t interval =
      std::max(config.floor_ms, l.held_ms - l.held_ms / kMarginDivisor);
  const std::string floor = interval == config.floor_ms ? " (floor)" : "";
  if (l.held_ms == 0) {
    // Nothing ever answered: a NAT that forgets this fast, or a phone that
    // ignores OPTIONS. The floor keeps the mapping either way.
    Learned(l, interval,
            absl::StrCat("learned: no answer to the first probe (", Seconds(l.gap_ms),
                         " gap): NAT timeout below it or the phone ignores OPTIONS; interval ",
                         Seconds(interval), floor));
    return;
  }
  Learned(l, interval,
          absl::StrCat("learned: NAT held ", Seconds(l.held_ms), ", dropped the mapping within ",
                       Seconds(l.gap_ms), "; interval ", Seconds(interval), floor));
}

void OnHeardFrom(KeepaliveLearning& l, int64_t now_ms) {
  if (l.phase != KeepaliveLearning::Phase::kProbing) return;
  l.probe_sent_ms.reset();  // void: its answer no longer tells the gap
  l.quiet_since_ms = std::max(l.quiet_since_ms, now_ms);
}

}  // namespace rtplatch
