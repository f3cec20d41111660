// Learns each new NAT'd UDP binding's NAT timeout (design.md failure mode
// "NAT UDP timeout shorter than the keepalive interval") by running the
// pure state machine of control/nat/keepalive_learning.h against the real
// phone: probes go out through `send_probe` (the proxy's OPTIONS from the
// socket the binding registered on), answers and losses come back in, and
// every decision lands in the registrar (interval, learning state, reason:
// what `rtplatchctl registration` shows) and from there in the dataplane's
// keepalive targets (keepalive_sync.h), which a learning binding has none of.
//
// The learning state lives in memory. A binding loaded from the store
// still learning (a restart mid-way) starts over with Resume().
//
// Single-threaded: the event loop calls everything.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/ip_address.h"
#include "control/media/keepalive_sync.h"
#include "control/nat/keepalive_learning.h"
#include "control/registrar/registrar.h"

namespace rtplatch {

struct KeepaliveLearnerCounters {
  uint64_t started = 0;
  uint64_t probes_sent = 0;
  uint64_t probes_answered = 0;
  uint64_t probes_lost = 0;
  uint64_t probes_unsendable = 0;  // no route to the binding (socket gone)
  uint64_t learned = 0;
  uint64_t learned_shorter = 0;  // learned below the initial interval
  uint64_t abandoned = 0;        // the binding went (or changed) first
};

class KeepaliveLearner {
 public:
  // Sends probe `probe_id` to the binding; false when it could not be
  // sent. The caller reports its answer with OnProbeAnswered(KeyOf(b),
  // probe_id, ...).
  using SendProbe = std::function<bool(const Binding& binding, uint64_t probe_id)>;

  // `config.ceiling_ms` is ignored: each binding's ceiling is the interval
  // the registrar gave it (its policy's initial interval).
  KeepaliveLearner(KeepaliveLearningConfig config, Registrar& registrar, KeepaliveSync& sync,
                   SendProbe send_probe);

  static std::string KeyOf(const Binding& b) { return b.aor + "\n" + b.contact_uri; }

  // A REGISTER's changes, after the keepalive sync saw them: bindings that
  // start learning are tracked; a refresh of a learning one is traffic on
  // its mapping; a removed or no longer learning one is dropped.
  void Apply(const std::vector<BindingChange>& changes, int64_t now_ms);
  void Removed(const std::vector<Binding>& gone);
  // Bindings loaded while still learning (a control-plane restart).
  void Resume(const std::vector<Binding>& live, int64_t now_ms);

  // A SIP message from `source`, other than a probe's answer (call it
  // after the message was handled): if a learning binding's phone sent it,
  // its mapping was just used, so the gap being tested restarts (and an
  // outstanding probe is void).
  void HeardFrom(const Endpoint& source, int64_t now_ms);
  // The answer to probe `probe_id`; one to a void or older probe is ignored.
  void OnProbeAnswered(const std::string& key, uint64_t probe_id, int64_t now_ms);

  // Sends the probes due and decides on those unanswered in time.
  void Tick(int64_t now_ms);

  // The learning state of a binding, if it is being learned.
  const KeepaliveLearning* Find(const std::string& key) const;
  size_t size() const { return learning_.size(); }
  const KeepaliveLearnerCounters& counters() const { return counters_; }

 private:
  struct Entry {
    Binding binding;  // as registered: where probes go
    KeepaliveLearningConfig config;
    KeepaliveLearning state;
    uint64_t generation = 0;  // its wake-ups in the queue carry this
  };
  // When the entry next needs Tick: its probe is lost, the next is due, or
  // the learning's deadline.
  static std::optional<int64_t> NextEventAt(const Entry& e);
  void Track(const Binding& b, int64_t now_ms);
  void Drop(const std::string& key);
  // Writes the entry's reason (and, once learned, its interval) to the
  // registrar and the keepalive sync; a learned entry is dropped.
  void Record(const std::string& key);

  KeepaliveLearningConfig config_;
  Registrar& registrar_;
  KeepaliveSync& sync_;
  SendProbe send_probe_;
  absl::flat_hash_map<std::string, Entry> learning_;
  // Phones registering several lines from one port share a mapping.
  absl::flat_hash_map<Endpoint, std::vector<std::string>> by_source_;
  // One wake-up per learning binding (time, generation, key), earliest
  // first, so a tick touches only the bindings due, not all of them.
  using WakeUp = std::tuple<int64_t, uint64_t, std::string>;
  std::priority_queue<WakeUp, std::vector<WakeUp>, std::greater<>> wake_ups_;
  uint64_t next_generation_ = 0;
  KeepaliveLearnerCounters counters_;
};

}  // namespace rtplatch
