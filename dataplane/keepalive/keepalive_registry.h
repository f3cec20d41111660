// The control thread's side of NAT keepalives: validates targets, interns
// payloads, hands each target to an lcore (its index in that lcore's slab
// plus an arm command), and frees indexes only once the lcore acknowledges
// a removal. Ids are index * lcores + lcore_index + 1: dense, never 0.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "dataplane/keepalive/chunked_slab.h"
#include "dataplane/keepalive/keepalive_payloads.h"
#include "dataplane/keepalive/keepalive_target.h"
#include "dataplane/fastpath/relay_addresses.h"
#include "dataplane/fastpath/spsc_ring.h"

namespace rtplatch {

inline constexpr uint32_t kMinKeepaliveIntervalMs = 100;
inline constexpr uint32_t kMaxKeepaliveIntervalMs = 86'400'000;
inline constexpr uint32_t kDefaultKeepaliveIntervalMs = 60'000;
// Neighbouring targets (16 x 64 B = 1 KiB) first fire in the same tick.
inline constexpr uint32_t kKeepaliveGroup = 16;

struct KeepaliveSpec {
  Endpoint target;
  Endpoint source;
  std::string payload = "\r\n\r\n";
  uint32_t interval_ms = kDefaultKeepaliveIntervalMs;
  uint32_t jitter_ms = 0;
  // The first send comes within this long (0: anywhere in the first
  // interval). A target installed for a mapping that may be close to its
  // timeout (a node taking over another's phones, a reinstall) asks for
  // a short one.
  uint32_t first_within_ms = 0;
  std::string label;
};

struct KeepaliveView {
  uint64_t id = 0;
  Endpoint target;
  Endpoint source;
  uint16_t payload_bytes = 0;
  uint32_t interval_ms = 0;
  uint32_t jitter_ms = 0;
  std::string label;
  uint32_t sent = 0;
  std::optional<uint64_t> last_sent_ago_ns;
  uint32_t lcore_index = 0;
};

class KeepaliveRegistry {
 public:
  KeepaliveRegistry(const RelayAddresses& addresses,
                    std::vector<SpscRing<KeepaliveCommand>*> command_rings,
                    std::function<void()> wait_for_ring);

  // The slab lcore `index` reads its targets from.
  ChunkedSlab<KeepaliveTarget>* slab(uint32_t lcore_index) { return lcores_[lcore_index].slab.get(); }
  const KeepalivePayloads& payloads() const { return payloads_; }

  // All or nothing: every spec is checked before any is armed.
  absl::StatusOr<std::vector<uint64_t>> Add(const std::vector<KeepaliveSpec>& specs,
                                            uint64_t now_ns);
  absl::StatusOr<KeepaliveView> Update(uint64_t id, uint32_t interval_ms,
                                       std::optional<uint32_t> jitter_ms, uint64_t now_ns);
  absl::Status Remove(const std::vector<uint64_t>& ids);
  absl::StatusOr<KeepaliveView> Query(uint64_t id, uint64_t now_ns) const;
  std::vector<KeepaliveView> List(const std::optional<IpAddress>& target_ip,
                                  const std::optional<std::string>& label, size_t offset,
                                  size_t limit, uint64_t now_ns, size_t* total) const;
  // The lcore has unscheduled the target at `index`: it may be reused.
  void Freed(uint32_t lcore_index, uint32_t index);

  size_t count() const { return live_; }
  size_t armed(uint32_t lcore_index) const { return lcores_[lcore_index].live; }
  size_t bytes() const;

 private:
  enum class Slot : uint8_t { kFree, kLive, kFreeing };
  struct PerLcore {
    std::unique_ptr<ChunkedSlab<KeepaliveTarget>> slab;
    std::vector<Slot> slots;       // by index
    std::vector<uint32_t> free;    // acknowledged free indexes
    uint32_t next_fresh = 0;
    size_t live = 0;
  };
  struct Location {
    uint32_t lcore;
    uint32_t index;
  };

  absl::Status Check(const KeepaliveSpec& spec, uint8_t* src_addr_id) const;
  std::optional<Location> Locate(uint64_t id) const;
  uint64_t IdOf(uint32_t lcore, uint32_t index) const {
    return uint64_t{index} * lcores_.size() + lcore + 1;
  }
  uint32_t TakeIndex(PerLcore& l);
  static uint64_t FirstSendOffset(uint32_t index, uint32_t interval_ms);
  void Send(uint32_t lcore, const KeepaliveCommand& c);
  KeepaliveView View(uint64_t id, Location where, uint64_t now_ns) const;

  const RelayAddresses& addresses_;
  std::vector<SpscRing<KeepaliveCommand>*> rings_;
  std::function<void()> wait_for_ring_;
  KeepalivePayloads payloads_;
  std::vector<PerLcore> lcores_;
  absl::flat_hash_map<uint64_t, std::string> labels_;  // only targets that have one
  uint32_t next_lcore_ = 0;
  size_t live_ = 0;
};

}  // namespace rtplatch
