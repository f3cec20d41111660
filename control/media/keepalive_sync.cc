#include "control/media/keepalive_sync.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {

KeepaliveSync::KeepaliveSync(DataplaneLink& link, Options options)
    : link_(link), options_(std::move(options)) {}

std::optional<KeepaliveSpec> KeepaliveSync::SpecFor(const Binding& b) const {
  // Keepalives go over UDP only: a TCP binding's connection carries its
  // own (RFC 5626 CRLF from the phone), and the dataplane sends UDP.
  if (b.keepalive_interval_ms == 0 || b.transport != Binding::Transport::kUdp) return std::nullopt;
  // While its NAT's timeout is learned, the control plane's probes are the
  // binding's keepalives: a target would refresh the mapping mid-gap.
  if (b.keepalive_learning) return std::nullopt;
  // Another node's binding: its owner sends them (one sender a binding).
  if (!b.node.empty()) return std::nullopt;
  KeepaliveSpec spec;
  spec.target = b.source;
  spec.source = b.local_socket;
  if (spec.source.ip.is_unspecified()) {
    const auto& adv = b.source.ip.is_v4() ? options_.advertised_v4 : options_.advertised_v6;
    if (!adv) return std::nullopt;
    spec.source.ip = *adv;
  }
  if (spec.source.ip.is_v4() != spec.target.ip.is_v4()) return std::nullopt;
  // A VIP this node does not hold a valid lease of: its holder sends them.
  if (options_.may_send_from && !options_.may_send_from(spec.source.ip)) return std::nullopt;
  spec.payload = options_.payload;
  spec.interval_ms = b.keepalive_interval_ms;
  spec.label = absl::StrCat(kLabelPrefix, b.aor);
  return spec;
}

std::optional<uint64_t> KeepaliveSync::TargetOf(const Binding& b) const {
  auto it = ids_.find(Key(b));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void KeepaliveSync::Install(const Binding& b, uint32_t first_within_ms) {
  std::optional<KeepaliveSpec> spec = SpecFor(b);
  if (!spec) {
    if (b.keepalive_interval_ms != 0 && b.transport == Binding::Transport::kUdp &&
        !b.keepalive_learning && b.node.empty() && b.local_socket.ip.is_unspecified()) {
      ++counters_.skipped_no_source;
    }
    return;
  }
  spec->first_within_ms = first_within_ms;
  auto ids = link_.AddKeepalives({*spec});
  if (!ids.ok()) {
    ++counters_.failures;
    return;
  }
  ++counters_.installed;
  auto [it, inserted] = ids_.try_emplace(Key(b), ids->front());
  if (inserted) return;
  // That call was the link's first since a (re)connection, and the
  // reconnect hook's ReinstallAll already gave this binding a target: keep
  // that one and take ours back, or it would send keepalives forever.
  if (link_.RemoveKeepalives({ids->front()}).ok()) {
    ++counters_.removed;
  } else {
    ++counters_.failures;
  }
}

void KeepaliveSync::Remove(const Binding& b) {
  auto it = ids_.find(Key(b));
  if (it == ids_.end()) return;
  const uint64_t id = it->second;
  ids_.erase(it);
  if (link_.RemoveKeepalives({id}).ok()) {
    ++counters_.removed;
  } else {
    ++counters_.failures;
  }
}

void KeepaliveSync::Apply(const std::vector<BindingChange>& changes, uint32_t first_within_ms) {
  for (const BindingChange& c : changes) {
    switch (c.kind) {
      case BindingChange::Kind::kAdded:
        Remove(c.binding);  // a stale id from a previous binding of this key
        Install(c.binding, first_within_ms);
        break;
      case BindingChange::Kind::kRefreshed: {
        if (!c.keepalive_changed && TargetOf(c.binding)) break;
        const bool same_target = c.previous.source == c.binding.source &&
                                 c.previous.local_socket == c.binding.local_socket &&
                                 c.previous.transport == c.binding.transport;
        auto id = TargetOf(c.previous);
        if (same_target && id && c.binding.keepalive_interval_ms != 0 &&
            !c.binding.keepalive_learning &&
            link_.UpdateKeepalive(*id, c.binding.keepalive_interval_ms).ok()) {
          ++counters_.updated;
          break;
        }
        Remove(c.previous);
        Install(c.binding);
        break;
      }
      case BindingChange::Kind::kRemoved:
        Remove(c.binding);
        break;
    }
  }
}

void KeepaliveSync::Removed(const std::vector<Binding>& expired) {
  for (const Binding& b : expired) Remove(b);
}

void KeepaliveSync::ReinstallAll(const std::vector<Binding>& live) {
  if (!BeginReinstall()) return;
  // keepalive_add takes at most 100 000 targets a request.
  constexpr size_t kBatch = 50000;
  const absl::Span<const Binding> all(live);
  for (size_t start = 0; start < all.size(); start += kBatch) {
    if (!InstallSlice(all.subspan(start, kBatch))) return;
  }
}

bool KeepaliveSync::BeginReinstall() {
  ++counters_.reinstalls;
  ids_.clear();
  auto old = link_.ListKeepalives(kLabelPrefix);
  if (!old.ok() || !link_.RemoveKeepalives(*old).ok()) {
    ++counters_.failures;
    return false;
  }
  return true;
}

bool KeepaliveSync::InstallSlice(absl::Span<const Binding> live) {
  std::vector<KeepaliveSpec> specs;
  std::vector<const Binding*> owners;
  for (const Binding& b : live) {
    if (ids_.contains(Key(b))) continue;
    if (auto spec = SpecFor(b)) {
      spec->first_within_ms = kReinstallFirstWithinMs;
      specs.push_back(*std::move(spec));
      owners.push_back(&b);
    }
  }
  if (specs.empty()) return true;
  auto ids = link_.AddKeepalives(specs);
  if (!ids.ok()) {
    ++counters_.failures;
    return false;
  }
  for (size_t i = 0; i < ids->size(); ++i) ids_[Key(*owners[i])] = (*ids)[i];
  counters_.installed += ids->size();
  return true;
}

}  // namespace rtplatch
