// The dataplane's control protocol (dataplane/control/control_commands.h):
// each input line is one request from the control socket, in order, on a
// fresh dataplane (a small flow table, keepalives, one lcore whose rings
// are drained as the real lcore would), so allocate-then-update sequences
// are reached. Every reply must be one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "common/latch_policy.h"
#include "dataplane/control/control_commands.h"
#include "dataplane/control/stream_registry.h"
#include "dataplane/fastpath/flow_command.h"
#include "dataplane/fastpath/flow_table.h"
#include "dataplane/fastpath/relay_addresses.h"
#include "dataplane/fastpath/spsc_ring.h"
#include "dataplane/keepalive/keepalive_registry.h"
#include "dataplane/keepalive/keepalive_scheduler.h"

namespace rtplatch {
namespace {

constexpr uint64_t kNowNs = 1'000'000'000;

RelayAddresses Addresses() {
  return *RelayAddresses::Create({*IpAddress::Parse("203.0.113.10"),
                                  *IpAddress::Parse("2001:db8::10")});
}

// The control thread's objects and one lcore's side of the rings.
struct FuzzDataplane {
  FuzzDataplane()
      : table(*FlowTable::Create(Addresses(), 20000, 20015)),
        keepalive_addresses(Addresses()),
        streams(*table, {&flow_ring}, LatchPolicy::kLearn, [this] { DrainFlows(); }),
        keepalives(keepalive_addresses, {&keepalive_ring}, [this] { DrainKeepalives(); }),
        scheduler(keepalives.slab(0), kNowNs),
        commands(streams, [] { return DataplaneStats{}; }, [] { return kNowNs; },
                 &keepalives) {}

  void DrainFlows() {
    FlowCommand c;
    while (flow_ring.Pop(&c)) ApplyFlowCommand(*table, c);
  }
  void DrainKeepalives() {
    KeepaliveCommand c;
    while (keepalive_ring.Pop(&c)) {
      // False: the event ring is full; the lcore retries after it drains.
      while (!scheduler.Apply(c, kNowNs, &events)) DrainEvents();
    }
    DrainEvents();
  }
  void DrainEvents() {
    DataplaneEvent e;
    while (events.Pop(&e)) {
      if (e.type == DataplaneEvent::Type::kKeepaliveFreed) keepalives.Freed(0, e.slot);
    }
  }

  std::unique_ptr<FlowTable> table;
  SpscRing<FlowCommand> flow_ring{64};
  RelayAddresses keepalive_addresses;
  SpscRing<KeepaliveCommand> keepalive_ring{64};
  SpscRing<DataplaneEvent> events{64};
  StreamRegistry streams;
  KeepaliveRegistry keepalives;
  KeepaliveScheduler scheduler;
  ControlCommands commands;
};

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtplatch::FuzzDataplane dataplane;
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    bool subscribe = false;
    std::string reply = dataplane.commands.Handle(line, &subscribe);
    if (reply.find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
