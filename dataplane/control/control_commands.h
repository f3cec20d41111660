// The dataplane control protocol (docs/control-protocol.md): one JSON
// request line in, one JSON reply line out. Each command is declared once
// in a table (name, handler, help) so dispatch and `help` cannot drift.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/json_protocol.h"
#include "dataplane/control/kernel_addresses.h"
#include "dataplane/keepalive/keepalive_registry.h"
#include "dataplane/fastpath/lcore_counters.h"
#include "dataplane/control/stream_registry.h"
#include "nlohmann/json.hpp"

namespace rtplatch {

inline constexpr int kControlProtocolVersion = kJsonProtocolVersion;

struct LcoreStats {
  uint32_t lcore_id;
  LcoreCounters counters;
  size_t keepalives = 0;  // targets armed on this lcore
};

struct DataplaneStats {
  std::vector<LcoreStats> lcores;
  uint64_t tsc_hz = 0;
  size_t neighbors = 0;
  size_t table_bytes = 0;
  size_t keepalive_bytes = 0;
  size_t keepalive_payloads = 0;
};

class ControlCommands {
 public:
  // `keepalives` may be null (keepalive commands then answer unknown_command);
  // `kernel` may be null (a taken address is then not put on the kernel's
  // exception interface).
  ControlCommands(StreamRegistry& registry, std::function<DataplaneStats()> stats,
                  std::function<uint64_t()> now_ns, KeepaliveRegistry* keepalives = nullptr,
                  const KernelAddresses* kernel = nullptr);

  // Hears the log_level command's new level (the DPDK layer sets DPDK's
  // own log level by it).
  void set_log_level_hook(void (*hook)(LogLevel)) { log_level_hook_ = hook; }

  // One request line to one reply line (without '\n'). `*subscribe` is set
  // when the request subscribed this connection to events.
  std::string Handle(absl::string_view line, bool* subscribe);

  static std::string EventLine(const ControlEvent& event);

 private:
  using json = nlohmann::json;
  struct Command {
    absl::string_view name;
    absl::StatusOr<json> (ControlCommands::*handler)(const json& request);
    bool mutates;  // replies cached by request id: never applied twice
    absl::string_view help;
  };
  static const std::vector<Command>& Table();

  absl::StatusOr<json> Version(const json&);
  absl::StatusOr<json> Help(const json&);
  absl::StatusOr<json> Allocate(const json&);
  absl::StatusOr<json> Update(const json&);
  absl::StatusOr<json> Delete(const json&);
  absl::StatusOr<json> Query(const json&);
  absl::StatusOr<json> List(const json&);
  absl::StatusOr<json> Stats(const json&);
  absl::StatusOr<json> LogThreshold(const json&);
  absl::StatusOr<json> Subscribe(const json&);
  absl::StatusOr<json> KeepaliveAdd(const json&);
  absl::StatusOr<json> KeepaliveUpdate(const json&);
  absl::StatusOr<json> KeepaliveRemove(const json&);
  absl::StatusOr<json> KeepaliveQuery(const json&);
  absl::StatusOr<json> KeepaliveList(const json&);
  absl::StatusOr<json> AddressTake(const json&);
  absl::StatusOr<json> AddressRelease(const json&);
  absl::StatusOr<json> AddressList(const json&);
  absl::StatusOr<uint8_t> StandbyAddress(const json&) const;

  void Remember(const std::string& id, const std::string& reply);

  StreamRegistry& registry_;
  KeepaliveRegistry* keepalives_;
  const KernelAddresses* kernel_;
  std::function<DataplaneStats()> stats_;
  std::function<uint64_t()> now_ns_;
  void (*log_level_hook_)(LogLevel) = nullptr;
  bool subscribe_requested_ = false;
  absl::flat_hash_map<std::string, std::string> replies_by_id_;
  std::deque<std::string> reply_ids_;  // eviction order
};

nlohmann::json StreamJson(const StreamView& v);

}  // namespace rtplatch
