#include "dataplane/fastpath/flow_table.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch {

absl::StatusOr<std::unique_ptr<FlowTable>> FlowTable::Create(
    RelayAddresses addresses, uint16_t port_min, uint16_t port_max) {
  if (port_min == 0 || port_max < port_min) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port range: need 0 < port_min <= port_max, got ", port_min, "..", port_max));
  }
  uint16_t even_min = (port_min + 1) & ~1u;
  uint32_t ports = static_cast<uint32_t>(port_max) - even_min + 1;
  ports &= ~1u;  // whole RTP/RTCP pairs only
  if (ports < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port range: ", port_min, "..", port_max, " holds fewer than 2 port pairs"));
  }
  // The whole table up front (startup only): a failure is an error naming
  // what sized it, never an exception.
  const uint32_t slots = static_cast<uint32_t>(addresses.size()) * ports;
  // In 2 MB pages where the kernel gives them (transparent huge pages on
  // request): a million streams span hundreds of MB, and with 4 KB pages
  // nearly every packet would also miss the TLB.
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t bytes = (size_t{slots} * sizeof(Flow) + kHugePage - 1) & ~(kHugePage - 1);
  void* mem = std::aligned_alloc(kHugePage, bytes);
  if (mem == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "flow table: cannot allocate ", bytes, " bytes (", addresses.size(),
        " relay_addresses x ", ports, " ports of port_min..port_max ", port_min, "..",
        port_max, " x ", sizeof(Flow), " bytes): narrow the port range or use fewer addresses"));
  }
  madvise(mem, bytes, MADV_HUGEPAGE);  // advice only: 4 KB pages if refused
  std::memset(mem, 0, bytes);
  return std::unique_ptr<FlowTable>(
      new FlowTable(std::move(addresses), even_min, ports, static_cast<Flow*>(mem)));
}

FlowTable::FlowTable(RelayAddresses addresses, uint16_t port_min,
                     uint32_t ports_per_address, Flow* flows)
    : addresses_(std::move(addresses)),
      port_min_(port_min),
      ports_per_address_(ports_per_address),
      slots_(static_cast<uint32_t>(addresses_.size()) * ports_per_address),
      flows_(flows) {}

FlowTable::~FlowTable() { std::free(flows_); }

FlowSnapshot FlowTable::Snapshot(uint32_t slot) const {
  const Flow& f = flows_[slot];
  FlowSnapshot s;
  for (;;) {
    uint32_t before = f.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    s.state = RelaxedLoad(f.state);
    s.policy = RelaxedLoad(f.policy);
    s.peer_ip = f.peer_ip;
    s.peer_port = RelaxedLoad(f.peer_port);
    s.expected_ip = f.expected_ip;
    s.expected_port = RelaxedLoad(f.expected_port);
    s.generation = RelaxedLoad(f.generation);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (f.seq.load(std::memory_order_relaxed) == before) break;
  }
  s.last_rx_ns = RelaxedLoad(f.last_rx_ns);
  s.packets = RelaxedLoad(f.packets);
  s.bytes = RelaxedLoad(f.bytes);
  s.drops = RelaxedLoad(f.drops);
  s.relatches = RelaxedLoad(f.relatches);
  return s;
}

}  // namespace rtplatch
