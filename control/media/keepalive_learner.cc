#include "control/media/keepalive_learner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {

KeepaliveLearner::KeepaliveLearner(KeepaliveLearningConfig config, Registrar& registrar,
                                   KeepaliveSync& sync, SendProbe send_probe)
    : config_(config), registrar_(registrar), sync_(sync), send_probe_(std::move(send_probe)) {}

void KeepaliveLearner::Track(const Binding& b, int64_t now_ms) {
  const std::string key = KeyOf(b);
  if (learning_.contains(key)) return;
  if (b.transport != Binding::Transport::kUdp || b.keepalive_interval_ms <= config_.floor_ms) {
    // Nothing to learn (a store row from elsewhere, say): settle as is.
    if (auto change = registrar_.SetKeepalive(
            b.aor, b.contact_uri, b.keepalive_interval_ms, false,
            absl::StrCat("initial: ", b.keepalive_interval_ms, " ms (nothing to learn)"))) {
      sync_.Apply({*change});
    }
    return;
  }
  Entry e;
  e.binding = b;
  e.config = config_;
  e.config.ceiling_ms = b.keepalive_interval_ms;
  e.state = StartLearning(e.config, now_ms);
  e.generation = ++next_generation_;
  ++counters_.started;
  by_source_[b.source].push_back(key);
  if (std::optional<int64_t> at = NextEventAt(e)) wake_ups_.emplace(*at, e.generation, key);
  learning_.emplace(key, std::move(e));
}

void KeepaliveLearner::Drop(const std::string& key) {
  auto it = learning_.find(key);
  if (it == learning_.end()) return;
  auto src = by_source_.find(it->second.binding.source);
  if (src != by_source_.end()) {
    std::erase(src->second, key);
    if (src->second.empty()) by_source_.erase(src);
  }
  learning_.erase(it);
}

void KeepaliveLearner::Apply(const std::vector<BindingChange>& changes, int64_t now_ms) {
  for (const BindingChange& c : changes) {
    const std::string key = KeyOf(c.binding);
    const bool tracked = learning_.contains(key);
    if (c.kind == BindingChange::Kind::kRemoved || !c.binding.keepalive_learning) {
      if (tracked) {
        ++counters_.abandoned;
        Drop(key);
      }
      continue;
    }
    if (!tracked) {
      Track(c.binding, now_ms);
      continue;
    }
    Entry& e = learning_.at(key);
    if (!(e.binding.source == c.binding.source)) {
      // Learning restarted on a new mapping (keepalive_interval.h).
      Drop(key);
      Track(c.binding, now_ms);
      continue;
    }
    // A refresh over the same mapping: the REGISTER just used it.
    e.binding = c.binding;
    OnHeardFrom(e.state, now_ms);
  }
}

void KeepaliveLearner::Removed(const std::vector<Binding>& gone) {
  for (const Binding& b : gone) {
    const std::string key = KeyOf(b);
    if (!learning_.contains(key)) continue;
    ++counters_.abandoned;
    Drop(key);
  }
}

void KeepaliveLearner::Resume(const std::vector<Binding>& live, int64_t now_ms) {
  for (const Binding& b : live) {
    if (b.keepalive_learning) Track(b, now_ms);
  }
}

void KeepaliveLearner::HeardFrom(const Endpoint& source, int64_t now_ms) {
  auto src = by_source_.find(source);
  if (src == by_source_.end()) return;
  for (const std::string& key : src->second) {
    auto it = learning_.find(key);
    if (it != learning_.end()) OnHeardFrom(it->second.state, now_ms);
  }
}

void KeepaliveLearner::OnProbeAnswered(const std::string& key, uint64_t probe_id,
                                       int64_t now_ms) {
  auto it = learning_.find(key);
  if (it == learning_.end() || !it->second.state.probe_sent_ms ||
      it->second.state.probe_id != probe_id) {
    return;
  }
  ++counters_.probes_answered;
  rtplatch::OnProbeAnswered(it->second.state, it->second.config, now_ms);
  Record(key);
}

std::optional<int64_t> KeepaliveLearner::NextEventAt(const Entry& e) {
  std::optional<int64_t> next = ProbeLostAt(e.state, e.config);
  if (!next) next = ProbeDueAt(e.state);
  std::optional<int64_t> deadline = LearningDeadlineAt(e.state, e.config);
  if (next && deadline) return std::min(*next, *deadline);
  return next ? next : deadline;
}

void KeepaliveLearner::Tick(int64_t now_ms) {
  std::vector<std::string> changed;
  while (!wake_ups_.empty() && std::get<0>(wake_ups_.top()) <= now_ms) {
    auto [when, generation, key] = wake_ups_.top();
    wake_ups_.pop();
    auto it = learning_.find(key);
    if (it == learning_.end() || it->second.generation != generation) continue;  // dropped
    Entry& e = it->second;
    std::optional<int64_t> lost = ProbeLostAt(e.state, e.config);
    std::optional<int64_t> due = ProbeDueAt(e.state);
    std::optional<int64_t> deadline = LearningDeadlineAt(e.state, e.config);
    if (deadline && now_ms >= *deadline && !(lost && now_ms >= *lost)) {
      OnLearningDeadline(e.state, e.config);
      changed.push_back(key);
    } else if (lost && now_ms >= *lost) {
      ++counters_.probes_lost;
      OnProbeLost(e.state, e.config);
      changed.push_back(key);
    } else if (due && now_ms >= *due) {
      if (send_probe_(e.binding, e.state.probe_id + 1)) {
        ++counters_.probes_sent;
        OnProbeSent(e.state, now_ms);
      } else {
        // No way to reach it (its socket is gone): try again a gap later
        // rather than count a probe nobody sent as lost.
        ++counters_.probes_unsendable;
        OnHeardFrom(e.state, now_ms);
      }
    }
    // Traffic or an answer moved the event later: wait for it (never at
    // `now` again, so a tick always ends).
    if (std::optional<int64_t> next = NextEventAt(e)) {
      wake_ups_.emplace(std::max(*next, now_ms + 1), generation, std::move(key));
    }
  }
  for (const std::string& key : changed) Record(key);
}

void KeepaliveLearner::Record(const std::string& key) {
  auto it = learning_.find(key);
  if (it == learning_.end()) return;
  const Entry& e = it->second;
  const bool learned = e.state.phase == KeepaliveLearning::Phase::kLearned;
  const uint32_t interval = learned ? e.state.interval_ms : e.binding.keepalive_interval_ms;
  std::optional<BindingChange> change = registrar_.SetKeepalive(
      e.binding.aor, e.binding.contact_uri, interval, /*learning=*/!learned, e.state.reason);
  if (!learned) {
    if (!change) {
      ++counters_.abandoned;
      Drop(key);
    }
    return;
  }
  ++counters_.learned;
  if (interval < e.config.ceiling_ms) ++counters_.learned_shorter;
  Drop(key);
  if (change) sync_.Apply({*change});
}

const KeepaliveLearning* KeepaliveLearner::Find(const std::string& key) const {
  auto it = learning_.find(key);
  return it == learning_.end() ? nullptr : &it->second.state;
}

}  // namespace rtplatch
