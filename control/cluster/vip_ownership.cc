#include "control/cluster/vip_ownership.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtplatch {

VipOwnership::VipOwnership(std::vector<IpAddress> vips, RedisLink& link, Registrar& registrar,
                           DataplaneHook dataplane)
    : vips_(std::move(vips)),
      link_(link),
      registrar_(registrar),
      dataplane_(std::move(dataplane)),
      rights_(vips_.size(), false) {}

absl::Status VipOwnership::Known(const IpAddress& vip) const {
  if (std::find(vips_.begin(), vips_.end(), vip) != vips_.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("address: ", vip.ToString(), " is not one of this node's cluster.vips"));
}

absl::StatusOr<VipOwnership::View> VipOwnership::Find(const IpAddress& vip) const {
  if (absl::Status s = Known(vip); !s.ok()) return s;
  return View{vip, taken_.contains(vip), link_.lease(vip)};
}

absl::Status VipOwnership::Take(const IpAddress& vip) {
  if (absl::Status s = Known(vip); !s.ok()) return s;
  // The dataplane first: a VIP it cannot relay for is not taken at all.
  if (absl::Status s = dataplane_(vip, true); !s.ok()) {
    ++counters_.take_failures;
    return s;
  }
  link_.TakeLease(vip);
  taken_.insert(vip);
  // The walk starts over so it covers every VIP taken so far.
  adopting_.insert(vip);
  adopt_after_.clear();
  adopt_pending_ = true;
  ++counters_.takes;
  return absl::OkStatus();
}

absl::Status VipOwnership::Release(const IpAddress& vip) {
  if (absl::Status s = Known(vip); !s.ok()) return s;
  // Keepalives and writes stop at once; the dataplane may be down.
  taken_.erase(vip);
  adopting_.erase(vip);
  link_.ReleaseLease(vip);
  ++counters_.releases;
  return dataplane_(vip, false);
}

void VipOwnership::Reassert() {
  for (const IpAddress& vip : taken_) {
    if (!dataplane_(vip, true).ok()) ++counters_.take_failures;
  }
}

bool VipOwnership::Rights(size_t i) const {
  return taken_.contains(vips_[i]) && link_.lease(vips_[i]).valid;
}

bool VipOwnership::MayKeepAlive(const IpAddress& source) const {
  for (size_t i = 0; i < vips_.size(); ++i) {
    if (vips_[i] == source) return Rights(i);
  }
  return true;
}

bool VipOwnership::KeepaliveRightsChanged() {
  bool changed = false;
  for (size_t i = 0; i < vips_.size(); ++i) {
    const bool now = Rights(i);
    changed |= now != rights_[i];
    rights_[i] = now;
  }
  return changed;
}

bool VipOwnership::AdoptSlice(size_t budget, int64_t now, std::vector<BindingChange>& adopted) {
  if (!adopt_pending_) return false;
  std::vector<std::pair<std::string, std::string>> theirs;
  adopt_after_ = registrar_.ScanLive(adopt_after_, budget, now, [&](const Binding& b) {
    if (!b.node.empty() && adopting_.contains(b.local_socket.ip)) {
      theirs.emplace_back(b.aor, b.contact_uri);
    }
  });
  for (const auto& [aor, contact] : theirs) {
    if (std::optional<BindingChange> change = registrar_.Adopt(aor, contact, now)) {
      ++counters_.adopted;
      adopted.push_back(*std::move(change));
    }
  }
  if (adopt_after_.empty()) {
    adopt_pending_ = false;
    adopting_.clear();
  }
  return adopt_pending_;
}

std::vector<VipOwnership::View> VipOwnership::List() const {
  std::vector<View> out;
  for (const IpAddress& vip : vips_) out.push_back(*Find(vip));
  return out;
}

}  // namespace rtplatch
