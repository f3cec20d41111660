#include "control/cluster/shared_bindings.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/logger.h"
#include "control/cluster/binding_codec.h"

namespace rtplatch {

SharedBindings::SharedBindings(RedisLink& link, Registrar& registrar, ClusterNodes& nodes,
                               std::vector<IpAddress> vips)
    : link_(link), registrar_(registrar), vips_(std::move(vips)), nodes_(nodes) {}

IpAddress SharedBindings::FenceOf(const Binding& b) const {
  // Another node's binding removed here (a phone's Contact: * to this
  // node) is not this node's to fence: it goes as it always did.
  if (!b.node.empty()) return {};
  const IpAddress& local = b.local_socket.ip;
  return std::find(vips_.begin(), vips_.end(), local) != vips_.end() ? local : IpAddress{};
}

void SharedBindings::Put(const Binding& binding, bool urgent) {
  link_.Put(binding.aor, binding.contact_uri, EncodeBinding(binding, link_.options().node),
            binding.expires_at * 1000, urgent, FenceOf(binding));
}

void SharedBindings::Refresh(const Binding& binding) {
  std::optional<std::string> value = EncodeRefresh(binding);
  if (!value) {
    Put(binding, /*urgent=*/false);  // not a Call-ID the refresh's format holds
    return;
  }
  link_.Refresh(binding.aor, binding.contact_uri, *std::move(value), binding.expires_at * 1000,
                FenceOf(binding));
}

void SharedBindings::Remove(const Binding& binding) {
  link_.Remove(binding.aor, binding.contact_uri, FenceOf(binding));
}

bool SharedBindings::Poll(size_t budget, int64_t now, int64_t now_ms,
                          std::vector<BindingChange>& displaced) {
  std::vector<RedisLink::Remote> remote = link_.TakeRemote(budget);
  for (RedisLink::Remote& r : remote) Apply(r, now, now_ms, displaced);
  bool more = remote.size() == budget;
  if (phase_ == Phase::kSweeping) more |= SweepSlice(now);
  if (rewriting_) more |= RewriteSlice(now);
  return more;
}

void SharedBindings::Apply(RedisLink::Remote& r, int64_t now, int64_t now_ms,
                           std::vector<BindingChange>& displaced) {
  switch (r.kind) {
    case RedisLink::Remote::Kind::kNode:
      (void)nodes_.Heard(r.node, r.value, now_ms);
      return;
    case RedisLink::Remote::Kind::kSnapshotBegin:
      phase_ = Phase::kReading;
      seen_.clear();
      if (r.value.empty() || r.value != last_run_id_) {
        // A Redis this node has not written to (or cannot tell): all its
        // own bindings go again.
        last_run_id_ = r.value;
        rewriting_ = true;
        rewrite_after_.clear();
      }
      return;
    case RedisLink::Remote::Kind::kSnapshotEnd:
      if (phase_ == Phase::kReading) {
        phase_ = Phase::kSweeping;
        sweep_after_.clear();
      }
      return;
    case RedisLink::Remote::Kind::kRemove:
      if (registrar_.RemoveRemote(r.aor, r.contact, r.node)) ++counters_.removed;
      return;
    case RedisLink::Remote::Kind::kRefresh: {
      absl::StatusOr<BindingRefresh> f = DecodeRefresh(r.value);
      if (!f.ok()) {
        ++counters_.bad_values;
        return;
      }
      // One this node does not hold (or holds as its own) is skipped: a
      // refresh moves a binding, it does not make one.
      if (registrar_.RefreshRemote(r.aor, r.contact, r.node, f->expires_at, f->cseq, f->call_id)) {
        ++counters_.refreshed;
      }
      return;
    }
    case RedisLink::Remote::Kind::kPut:
      break;
  }
  absl::StatusOr<Binding> b = DecodeBinding(r.value);
  if (!b.ok()) {
    // Counted, and said once in a while: a node of another version, or
    // a hand-edited key.
    if (counters_.bad_values++ % 1000 == 0) {
      RTPLATCH_LOG(Warning, "cluster: %s (%llu so far)",
                   std::string(b.status().message()).c_str(),
                   static_cast<unsigned long long>(counters_.bad_values));
    }
    return;
  }
  // Our own bindings come from our store, not back from Redis.
  if (b->node == link_.options().node || b->expires_at <= now) return;
  if (phase_ != Phase::kServing) seen_.insert(absl::StrCat(b->aor, "\n", b->contact_uri));
  if (std::optional<BindingChange> change = registrar_.ApplyRemote(*b)) {
    ++counters_.displaced;
    displaced.push_back(*std::move(change));
  }
  ++counters_.applied;
}

bool SharedBindings::SweepSlice(int64_t now) {
  struct Gone {
    std::string aor, contact, node;
  };
  std::vector<Gone> gone;
  sweep_after_ = registrar_.ScanLive(sweep_after_, kReconcileSlice, now, [&](const Binding& b) {
    if (!b.node.empty() && !seen_.contains(absl::StrCat(b.aor, "\n", b.contact_uri))) {
      gone.push_back({b.aor, b.contact_uri, b.node});
    }
  });
  for (const Gone& g : gone) {
    if (registrar_.RemoveRemote(g.aor, g.contact, g.node)) ++counters_.swept;
  }
  if (!sweep_after_.empty()) return true;
  phase_ = Phase::kServing;
  seen_ = {};  // its memory back, not just emptied
  return false;
}

bool SharedBindings::RewriteSlice(int64_t now) {
  if (link_.pending_writes() >= kRewriteBacklog) return false;  // the next round
  rewrite_after_ = registrar_.ScanLive(rewrite_after_, kReconcileSlice, now, [&](const Binding& b) {
    if (!b.node.empty()) return;
    Put(b, /*urgent=*/false);
    ++counters_.rewritten;
  });
  rewriting_ = !rewrite_after_.empty();
  return rewriting_;
}

}  // namespace rtplatch
