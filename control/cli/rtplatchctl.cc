// rtplatchctl: operator CLI for the rtplatch control protocol
// (docs/control-protocol.md). Run `rtplatchctl --help` for usage.
//
// Flow: parse the command line (usage errors exit 2) -> build the request
// (still exit 2 for bad values) -> connect (exit 3) -> send and render the
// reply (exit 1 on an error reply or a transport failure).

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/drop_reason.h"
#include "common/ip_address.h"
#include "common/control_client.h"
#include "common/json_protocol.h"
#include "nlohmann/json.hpp"

namespace rtplatch::control {
namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;
constexpr int kDefaultTimeoutMs = 5000;
constexpr char kDefaultSocket[] = "/run/rtplatch/dataplane.sock";
constexpr char kSocketEnv[] = "RTPLATCH_DATAPLANE_SOCKET";
// The control plane's operator socket (registrations, calls, SIP counters).
constexpr char kDefaultControlSocket[] = "/run/rtplatch/control.sock";
constexpr char kControlSocketEnv[] = "RTPLATCH_CONTROL_SOCKET";

// ---------------------------------------------------------------------------
// Output: every human-readable result is a Table printed by PrintTable.

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;
  bool show_header = true;
};

void PrintRow(const Table& table, const std::vector<size_t>& width,
              const std::vector<std::string>& cells, std::ostream& out) {
  static const std::string kEmpty;
  std::string line;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const std::string& cell = i < cells.size() ? cells[i] : kEmpty;
    size_t pad = width[i] - std::min(width[i], cell.size());
    bool last = i + 1 == table.columns.size();
    if (i > 0) line += "  ";
    if (table.columns[i].align == Align::kRight) line.append(pad, ' ');
    line += cell;
    if (table.columns[i].align == Align::kLeft && !last) line.append(pad, ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out << line << '\n';
}

void PrintTable(const Table& table, std::ostream& out = std::cout) {
  std::vector<std::string> header;
  for (const Column& c : table.columns) header.push_back(c.header);
  std::vector<size_t> width(table.columns.size(), 0);
  auto widen = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < width.size() && i < cells.size(); ++i) {
      width[i] = std::max(width[i], cells[i].size());
    }
  };
  if (table.show_header) widen(header);
  for (const auto& row : table.rows) widen(row);
  if (table.show_header) PrintRow(table, width, header, out);
  for (const auto& row : table.rows) PrintRow(table, width, row, out);
}

void PrintJson(const json& value) {
  std::cout << value.dump(2, ' ', false, json::error_handler_t::replace)
            << '\n';
}

// ---------------------------------------------------------------------------
// Tolerant access to reply JSON: a malformed reply renders as "-", it never
// throws.

const json& Field(const json& object, absl::string_view key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string Cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return ToJsonLine(value);
}

uint64_t U64(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) return std::max<int64_t>(0, value.get<int64_t>());
  if (value.is_number_float()) return static_cast<uint64_t>(std::max(0.0, value.get<double>()));
  return 0;
}

// Keys of `object`: those in `first` (in that order, when present), then the
// rest alphabetically, minus `skip`.
std::vector<std::string> OrderedKeys(const json& object,
                                     std::span<const absl::string_view> first,
                                     std::span<const absl::string_view> skip = {}) {
  std::vector<std::string> keys;
  if (!object.is_object()) return keys;
  absl::flat_hash_set<absl::string_view> seen(skip.begin(), skip.end());
  for (absl::string_view k : first) {
    if (object.contains(k) && seen.insert(k).second) keys.emplace_back(k);
  }
  for (const auto& [k, v] : object.items()) {
    if (!seen.contains(k)) keys.push_back(k);
  }
  return keys;
}

// "key: value" rows; nested objects are flattened to "outer.inner: value".
void AddKeyValues(const json& object, std::span<const absl::string_view> order,
                  std::span<const absl::string_view> skip,
                  const std::string& prefix, Table& table) {
  for (const std::string& key : OrderedKeys(object, order, skip)) {
    const json& value = Field(object, key);
    if (value.is_object()) {
      AddKeyValues(value, order, {}, absl::StrCat(prefix, key, "."), table);
    } else {
      table.rows.push_back({absl::StrCat(prefix, key, ":"), Cell(value)});
    }
  }
}

Table KeyValues(const json& object, std::span<const absl::string_view> order,
                std::span<const absl::string_view> skip = {}) {
  Table table{.columns = {{""}, {""}}, .show_header = false};
  AddKeyValues(object, order, skip, "", table);
  return table;
}

// ---------------------------------------------------------------------------
// Renderers: result object -> human output.

struct StreamField {
  absl::string_view key;
  Align align;
  bool in_table;  // shown in the multi-stream table (all are in `stream ID`)
};

constexpr StreamField kStreamFields[] = {
    {"stream", Align::kRight, true},       {"pair", Align::kRight, true},
    {"leg", Align::kLeft, true},           {"label", Align::kLeft, true},
    {"relay", Align::kLeft, true},         {"rtcp_relay", Align::kLeft, false},
    {"policy", Align::kLeft, true},        {"state", Align::kLeft, true},
    {"expected_peer", Align::kLeft, true}, {"learned_peer", Align::kLeft, true},
    {"packets", Align::kRight, true},      {"drops", Align::kRight, true},
    {"relatches", Align::kRight, true},    {"idle_ms", Align::kRight, true},
    {"lcore", Align::kRight, true},
};

Table StreamsTable(const json& streams) {
  Table table;
  for (const StreamField& f : kStreamFields) {
    if (f.in_table) table.columns.push_back({std::string(f.key), f.align});
  }
  if (!streams.is_array()) return table;
  for (const json& s : streams) {
    std::vector<std::string>& row = table.rows.emplace_back();
    for (const StreamField& f : kStreamFields) {
      if (f.in_table) row.push_back(Cell(Field(s, f.key)));
    }
  }
  return table;
}

void RenderStream(const json& stream) {
  std::vector<absl::string_view> order;
  for (const StreamField& f : kStreamFields) order.push_back(f.key);
  PrintTable(KeyValues(stream, order));
}

void RenderStreams(const json& result) {
  const json& streams = Field(result, "streams");
  PrintTable(StreamsTable(streams));
  size_t shown = streams.is_array() ? streams.size() : 0;
  uint64_t total = U64(Field(result, "total"));
  if (total > shown) {
    std::cout << shown << " of " << total
              << " streams shown (use --offset/--limit)\n";
  } else {
    std::cout << shown << (shown == 1 ? " stream\n" : " streams\n");
  }
}

constexpr absl::string_view kKeepaliveColumns[] = {
    "id", "target", "source", "interval_ms", "jitter_ms", "payload_bytes",
    "sent", "last_sent_ms_ago", "label", "lcore"};

Table KeepalivesTable(const json& list) {
  Table table;
  for (absl::string_view c : kKeepaliveColumns) {
    bool numeric = c != "target" && c != "source" && c != "label";
    table.columns.push_back({std::string(c), numeric ? Align::kRight : Align::kLeft});
  }
  if (!list.is_array()) return table;
  for (const json& k : list) {
    std::vector<std::string>& row = table.rows.emplace_back();
    for (absl::string_view c : kKeepaliveColumns) row.push_back(Cell(Field(k, c)));
  }
  return table;
}

void RenderKeepalives(const json& result) {
  const json& list = Field(result, "keepalives");
  PrintTable(KeepalivesTable(list));
  size_t shown = list.is_array() ? list.size() : 0;
  uint64_t total = U64(Field(result, "total"));
  std::cout << shown << " of " << total << " keepalive targets shown\n";
}

void RenderKeepalive(const json& k) {
  PrintTable(KeyValues(k, kKeepaliveColumns));
}

void RenderKeepaliveAdd(const json& result) {
  std::cout << "keepalive ids: " << Cell(Field(result, "ids")) << "\n";
}

void RenderKeepaliveRemove(const json& result) {
  std::cout << "removed " << Cell(Field(result, "removed")) << " keepalive target(s)\n";
}

void RenderAllocate(const json& result) {
  std::cout << "pair: " << Cell(Field(result, "pair")) << "\n";
  PrintTable(StreamsTable(json::array({Field(result, "a"), Field(result, "b")})));
}

void RenderDelete(const json& result) {
  std::cout << "deleted pair " << Cell(Field(result, "deleted")) << "\n";
}

void RenderVersion(const json& result) {
  std::string dataplane =
      absl::StrCat(Cell(Field(result, "software")), " (protocol ",
                   Cell(Field(result, "protocol")), ")");
  json versions = {{"rtplatchctl", absl::StrCat(SoftwareVersion(), " (protocol ",
                                                kProtocolVersion, ")")},
                   {"server", dataplane}};
  constexpr absl::string_view kOrder[] = {"rtplatchctl", "server"};
  PrintTable(KeyValues(versions, kOrder));
}

void RenderHelp(const json& result) {
  Table table{.columns = {{"command"}, {"description"}}};
  const json& commands = Field(result, "commands");
  if (commands.is_array()) {
    for (const json& c : commands) {
      table.rows.push_back({Cell(Field(c, "name")), Cell(Field(c, "help"))});
    }
  }
  PrintTable(table);
}

// --- stats

constexpr absl::string_view kStatCounters[] = {
    "rx",      "rx_bytes", "relayed",    "exception_in",
    "exception_out", "handoff", "solicits", "events_lost"};

uint64_t SumDrops(const json& counters) {
  uint64_t sum = 0;
  const json& drops = Field(counters, "drops");
  if (drops.is_object()) {
    for (const auto& [name, n] : drops.items()) sum += U64(n);
  }
  return sum;
}

std::string BusyPercent(const json& counters) {
  uint64_t busy = U64(Field(counters, "busy_cycles"));
  uint64_t idle = U64(Field(counters, "idle_cycles"));
  if (busy + idle == 0) return "-";
  return absl::StrFormat("%.1f", 100.0 * static_cast<double>(busy) /
                                     static_cast<double>(busy + idle));
}

std::vector<std::string> StatsRow(std::string name, const json& counters) {
  std::vector<std::string> row{std::move(name)};
  for (absl::string_view key : kStatCounters) {
    row.push_back(Cell(Field(counters, key)));
  }
  row.push_back(absl::StrCat(SumDrops(counters)));
  row.push_back(BusyPercent(counters));
  return row;
}

Table LcoreTable(const json& result) {
  Table table{.columns = {{"lcore", Align::kRight}}};
  for (absl::string_view key : kStatCounters) {
    table.columns.push_back({std::string(key), Align::kRight});
  }
  table.columns.push_back({"drops", Align::kRight});
  table.columns.push_back({"busy%", Align::kRight});
  const json& lcores = Field(result, "lcores");
  if (lcores.is_array()) {
    for (const json& l : lcores) table.rows.push_back(StatsRow(Cell(Field(l, "lcore")), l));
  }
  table.rows.push_back(StatsRow("total", Field(result, "total")));
  return table;
}

std::string DropHelp(const std::string& name) {
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    if (kDropReasonNames[i] == name) return std::string(kDropReasonHelp[i]);
  }
  return "";  // a reason newer than this client
}

// Non-zero totals, largest first.
Table DropTable(const json& total) {
  std::vector<std::pair<uint64_t, std::string>> nonzero;
  const json& drops = Field(total, "drops");
  if (drops.is_object()) {
    for (const auto& [name, n] : drops.items()) {
      if (U64(n) > 0) nonzero.emplace_back(U64(n), name);
    }
  }
  std::sort(nonzero.begin(), nonzero.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  Table table{.columns = {{"drop reason"}, {"count", Align::kRight}, {"meaning"}}};
  for (const auto& [n, name] : nonzero) {
    table.rows.push_back({name, absl::StrCat(n), DropHelp(name)});
  }
  return table;
}

void RenderStats(const json& result) {
  constexpr absl::string_view kSummary[] = {"streams", "pairs"};
  constexpr absl::string_view kTables[] = {"total", "lcores"};
  PrintTable(KeyValues(result, kSummary, kTables));
  std::cout << '\n';
  PrintTable(LcoreTable(result));
  Table drops = DropTable(Field(result, "total"));
  std::cout << '\n';
  if (drops.rows.empty()) {
    std::cout << "no drops\n";
  } else {
    PrintTable(drops);
  }
}

// --- control plane: registrations, calls, SIP counters

std::string JoinCell(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  for (const json& item : list) absl::StrAppend(&out, out.empty() ? "" : ",", Cell(item));
  return out;
}

// The decision in a word or two, for the table: "5000 (learned)",
// "25000 (learning)", "12500 (mapping changed)", "- (not NAT'd)". The
// reason's head is what comes before its first ':'; `registration AOR`
// shows the whole reason.
std::string KeepaliveCell(const json& binding) {
  uint64_t ms = U64(Field(binding, "keepalive_interval_ms"));
  const json& reason = Field(binding, "keepalive_reason");
  std::string out = ms > 0 ? absl::StrCat(ms) : "-";
  if (reason.is_string() && !reason.get<std::string>().empty()) {
    const std::string& text = reason.get_ref<const std::string&>();
    absl::StrAppend(&out, " (", text.substr(0, text.find(':')), ")");
  }
  return out;
}

Table RegistrationsTable(const json& list) {
  Table table{.columns = {{"aor"}, {"contact"}, {"source"}, {"transport"}, {"nat"},
                          {"reasons"}, {"keepalive ms"}, {"expires", Align::kRight}}};
  if (!list.is_array()) return table;
  for (const json& b : list) {
    const json& expires = Field(b, "expires_in");
    table.rows.push_back({Cell(Field(b, "aor")), Cell(Field(b, "contact")),
                          Cell(Field(b, "source")), Cell(Field(b, "transport")),
                          Cell(Field(b, "behind_nat")), JoinCell(Field(b, "nat_reasons")),
                          KeepaliveCell(b),
                          expires.is_null() ? "-" : absl::StrCat(Cell(expires), "s")});
  }
  return table;
}

void RenderRegistrations(const json& result) {
  const json& list = Field(result, "registrations");
  PrintTable(RegistrationsTable(list));
  size_t shown = list.is_array() ? list.size() : 0;
  uint64_t total = U64(Field(result, "total"));
  if (total > shown) {
    std::cout << shown << " of " << total
              << " registrations shown (use --offset/--limit)\n";
  } else {
    std::cout << shown << (shown == 1 ? " registration\n" : " registrations\n");
  }
  // A filter across AORs looked at a slice of the table: where to go on.
  if (const json& next = Field(result, "next"); next.is_string()) {
    std::cout << "more may match after " << next.get<std::string>() << " (use --after "
              << next.get<std::string>() << ")\n";
  }
}

void RenderRegistration(const json& result) {
  constexpr absl::string_view kOrder[] = {
      "contact", "source", "transport", "local_socket", "behind_nat", "nat_reasons",
      "keepalive_interval_ms", "keepalive_learning", "keepalive_reason", "expires_in", "q", "user_agent",
      "call_id", "cseq"};
  constexpr absl::string_view kSkip[] = {"aor"};
  const json& bindings = Field(result, "bindings");
  size_t n = bindings.is_array() ? bindings.size() : 0;
  std::cout << "aor: " << Cell(Field(result, "aor")) << " (" << n
            << (n == 1 ? " binding)\n" : " bindings)\n");
  for (size_t i = 0; i < n; ++i) {
    json shown = bindings[i];
    if (shown.is_object()) shown["nat_reasons"] = JoinCell(Field(bindings[i], "nat_reasons"));
    std::cout << "\nbinding " << i + 1 << ":\n";
    PrintTable(KeyValues(shown, kOrder, kSkip));
  }
}

// Arrays of scalars as "a,b"; arrays of objects as their count.
std::string ListCell(const json& value) {
  if (!value.is_array()) return Cell(value);
  bool objects = std::any_of(value.begin(), value.end(),
                             [](const json& v) { return v.is_structured(); });
  return objects ? absl::StrCat(value.size()) : JoinCell(value);
}

// One row per object; columns are the union of their keys, first seen first.
Table ObjectsTable(const json& list) {
  Table table;
  std::vector<std::string> keys;
  if (list.is_array()) {
    for (const json& item : list) {
      if (!item.is_object()) continue;
      for (const auto& [k, v] : item.items()) {
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
      }
    }
  }
  for (const std::string& k : keys) table.columns.push_back({k});
  if (!list.is_array()) return table;
  for (const json& item : list) {
    std::vector<std::string>& row = table.rows.emplace_back();
    for (const std::string& k : keys) row.push_back(ListCell(Field(item, k)));
  }
  return table;
}

constexpr absl::string_view kCallColumns[] = {"call_id", "state", "caller", "callee",
                                              "legs", "pairs"};

void RenderCalls(const json& result) {
  const json& calls = Field(result, "calls");
  Table table;
  for (absl::string_view c : kCallColumns) table.columns.push_back({std::string(c)});
  if (calls.is_array()) {
    for (const json& call : calls) {
      std::vector<std::string>& row = table.rows.emplace_back();
      for (absl::string_view c : kCallColumns) row.push_back(ListCell(Field(call, c)));
    }
  }
  PrintTable(table);
  size_t shown = calls.is_array() ? calls.size() : 0;
  uint64_t total = U64(Field(result, "total"));
  if (total > shown) {
    std::cout << shown << " of " << total << " calls shown (use --offset/--limit)\n";
  } else {
    std::cout << shown << (shown == 1 ? " call\n" : " calls\n");
  }
}

// One row per hop of each peer target: where calls go and whether they can.
void RenderPeers(const json& result) {
  const json& peers = Field(result, "peers");
  Table table;
  for (const char* c : {"peer", "uri", "hop", "state", "attempts", "failures", "went_down",
                        "probes_sent", "dns_error"}) {
    table.columns.push_back({c});
  }
  size_t hops = 0;
  auto row = [&](const json& peer, const json& target, const json& hop) {
    std::vector<std::string>& r = table.rows.emplace_back();
    r.push_back(ListCell(Field(peer, "name")));
    r.push_back(ListCell(Field(target, "uri")));
    for (const char* c : {"hop", "state", "attempts", "failures", "went_down", "probes_sent"}) {
      r.push_back(hop.is_object() ? ListCell(Field(hop, c)) : "-");
    }
    r.push_back(ListCell(Field(target, "dns_error")));
  };
  if (peers.is_array()) {
    for (const json& peer : peers) {
      const json& targets = Field(peer, "targets");
      if (!targets.is_array()) continue;
      for (const json& target : targets) {
        const json& list = Field(target, "hops");
        if (!list.is_array() || list.empty()) row(peer, target, json());  // not located yet
        if (!list.is_array()) continue;
        for (const json& hop : list) {
          row(peer, target, hop);
          ++hops;
        }
      }
    }
  }
  PrintTable(table);
  std::cout << (peers.is_array() ? peers.size() : 0) << " peers, " << hops << " hops\n";
}

// The node's cluster on one line, then one row per node it hears.
// One row per object of `list`, a cell per column (named by its header).
void AppendRows(Table& table, const json& list) {
  if (!list.is_array()) return;
  for (const json& n : list) {
    std::vector<std::string>& r = table.rows.emplace_back();
    for (const Column& c : table.columns) r.push_back(ListCell(Field(n, c.header)));
  }
}

void RenderCluster(const json& result) {
  if (!Field(result, "enabled").is_boolean() || !Field(result, "enabled").get<bool>()) {
    std::cout << "not in a cluster (no \"cluster\" in the control config)\n";
    return;
  }
  std::cout << "node " << ListCell(Field(result, "node")) << ", redis "
            << ListCell(Field(result, "redis")) << " ("
            << (Field(result, "connected") == json(true) ? "connected" : "not connected") << ")\n";
  Table table;
  for (const char* c : {"node", "state", "heard_ms_ago", "sip", "calls", "weight", "drained"}) {
    table.columns.push_back({c});
  }
  AppendRows(table, Field(result, "nodes"));
  PrintTable(table);
  const json& vips = Field(result, "vips");
  if (!vips.is_array() || vips.empty()) return;
  Table vip_table;
  for (const char* c : {"address", "taken", "epoch", "lease_valid", "lease_lost"}) {
    vip_table.columns.push_back({c});
  }
  AppendRows(vip_table, vips);
  std::cout << "\n";
  PrintTable(vip_table);
}

// Scalars and objects as key: value rows, then each list of objects (legs,
// pairs, ...) as its own table.
void RenderCall(const json& call) {
  std::vector<std::string> lists;
  if (call.is_object()) {
    for (const auto& [k, v] : call.items()) {
      if (v.is_array() && ListCell(v) != JoinCell(v)) lists.push_back(k);
    }
  }
  std::vector<absl::string_view> skip(lists.begin(), lists.end());
  PrintTable(KeyValues(call, kCallColumns, skip));
  for (const std::string& k : lists) {
    std::cout << '\n' << k << ":\n";
    PrintTable(ObjectsTable(Field(call, k)));
  }
}

// One row per banned source: who, why, for how much longer.
void RenderBans(const json& result) {
  const json& bans = Field(result, "bans");
  Table table;
  for (const char* c : {"source", "reason", "banned_s_ago", "ends_in_s", "dropped"}) {
    table.columns.push_back({c});
  }
  if (bans.is_array()) {
    for (const json& b : bans) {
      std::vector<std::string>& r = table.rows.emplace_back();
      for (const char* c : {"source", "reason", "banned_s_ago", "ends_in_s", "dropped"}) {
        r.push_back(ListCell(Field(b, c)));
      }
    }
  }
  PrintTable(table);
  const size_t n = bans.is_array() ? bans.size() : 0;
  std::cout << n << (n == 1 ? " source banned\n" : " sources banned\n");
}

void RenderSipStats(const json& result) {
  PrintTable(KeyValues(result, {}));
}

// --- events

std::string LocalTimestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string FormatEvent(const json& event) {
  constexpr absl::string_view kFirst[] = {"stream", "pair", "peer"};
  constexpr absl::string_view kSkip[] = {"v", "event"};
  std::string line =
      absl::StrCat(LocalTimestamp(), " ", Cell(Field(event, "event")));
  for (const std::string& key : OrderedKeys(event, kFirst, kSkip)) {
    absl::StrAppend(&line, " ", key, "=", Cell(Field(event, key)));
  }
  return line;
}

// ---------------------------------------------------------------------------
// Command line.

struct ParsedArgs {
  absl::flat_hash_map<std::string, std::string> flags;  // name without "--"
  std::vector<std::string> positional;

  const std::string* Flag(absl::string_view name) const {
    auto it = flags.find(name);
    return it == flags.end() ? nullptr : &it->second;
  }
  bool Has(absl::string_view name) const { return flags.contains(name); }
};

struct Context {
  ControlClient& client;
  bool json_output;
};

struct Command;
using BuildFn = absl::StatusOr<json> (*)(const ParsedArgs&);
using RenderFn = void (*)(const json& result);
using RunFn = int (*)(Context&, const Command&, const ParsedArgs&, json request);

int RunRequest(Context&, const Command&, const ParsedArgs&, json request);

struct Command {
  absl::string_view name;         // CLI name
  absl::string_view protocol;     // "cmd" sent; empty: build makes the request
  absl::string_view synopsis;     // arguments, for usage
  absl::string_view description;
  std::vector<absl::string_view> value_flags;
  std::vector<absl::string_view> switch_flags;
  size_t positionals = 0;
  size_t optional_positionals = 0;  // after the required ones
  BuildFn build = nullptr;       // nullptr: no arguments
  RenderFn render = nullptr;     // human output of the result
  RunFn run = RunRequest;
  bool control_plane = false;    // sent to --control-socket, not --socket
};

// --- failures

int ReportFailure(const absl::Status& status) {
  std::cerr << "error: " << status.message() << "\n";
  return kExitError;
}

int ReportErrorReply(const Reply& reply) {
  std::cerr << "error: " << reply.error_code << ": " << reply.error_message
            << "\n";
  return kExitError;
}

// --- argument builders (usage errors only; the server validates semantics)

absl::StatusOr<uint64_t> ParseNumber(absl::string_view what,
                                     absl::string_view text) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(text, &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected a non-negative integer, got '", text, "'"));
  }
  return n;
}

// Copies flag `flag` into out[key] if given; checks its syntax with `check`.
absl::Status CopyFlag(const ParsedArgs& args, absl::string_view flag,
                      absl::string_view key, json& out,
                      absl::Status (*check)(absl::string_view) = nullptr) {
  const std::string* value = args.Flag(flag);
  if (value == nullptr) return absl::OkStatus();
  if (check != nullptr) {
    if (absl::Status s = check(*value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", s.message()));
    }
  }
  out[std::string(key)] = *value;
  return absl::OkStatus();
}

absl::Status CheckEndpoint(absl::string_view text) {
  if (text.empty()) return absl::OkStatus();  // "" clears the peer
  return Endpoint::Parse(text).status();
}

absl::Status CheckIp(absl::string_view text) {
  return IpAddress::Parse(text).status();
}

absl::Status CopyNumberFlag(const ParsedArgs& args, absl::string_view flag,
                            json& out) {
  const std::string* value = args.Flag(flag);
  if (value == nullptr) return absl::OkStatus();
  auto n = ParseNumber(absl::StrCat("--", flag), *value);
  if (!n.ok()) return n.status();
  out[std::string(flag)] = *n;
  return absl::OkStatus();
}

absl::StatusOr<json> BuildIdArg(const ParsedArgs& args, absl::string_view key) {
  auto id = ParseNumber(key, args.positional[0]);
  if (!id.ok()) return id.status();
  return json{{std::string(key), *id}};
}

absl::StatusOr<json> BuildQuery(const ParsedArgs& args) {
  return BuildIdArg(args, "stream");
}

absl::StatusOr<json> BuildDelete(const ParsedArgs& args) {
  return BuildIdArg(args, "pair");
}

absl::StatusOr<json> BuildList(const ParsedArgs& args) {
  json out = json::object();
  for (absl::string_view f : {"state", "policy", "label"}) {
    if (auto s = CopyFlag(args, f, f, out); !s.ok()) return s;
  }
  if (auto s = CopyFlag(args, "peer-ip", "peer_ip", out, CheckIp); !s.ok()) return s;
  for (absl::string_view f : {"limit", "offset"}) {
    if (auto s = CopyNumberFlag(args, f, out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<json> BuildLeg(const ParsedArgs& args, absl::string_view leg) {
  json out = json::object();
  absl::Status s = CopyFlag(args, absl::StrCat("family-", leg), "family", out);
  if (s.ok()) s = CopyFlag(args, absl::StrCat("peer-", leg), "peer", out, CheckEndpoint);
  if (s.ok()) s = CopyFlag(args, absl::StrCat("policy-", leg), "policy", out);
  if (s.ok()) s = CopyFlag(args, absl::StrCat("relay-", leg), "relay", out, CheckEndpoint);
  if (!s.ok()) return s;
  if (args.Has("rtcp-mux")) out["rtcp_mux"] = true;
  return out;
}

absl::StatusOr<json> BuildAllocate(const ParsedArgs& args) {
  json out = json::object();
  for (absl::string_view leg : {"a", "b"}) {
    auto built = BuildLeg(args, leg);
    if (!built.ok()) return built.status();
    out[std::string(leg)] = *std::move(built);
  }
  if (auto s = CopyFlag(args, "label", "label", out); !s.ok()) return s;
  return out;
}

absl::StatusOr<json> BuildUpdate(const ParsedArgs& args) {
  auto out = BuildIdArg(args, "stream");
  if (!out.ok()) return out;
  absl::Status s = CopyFlag(args, "peer", "peer", *out, CheckEndpoint);
  if (s.ok()) s = CopyFlag(args, "policy", "policy", *out);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<json> BuildKeepaliveList(const ParsedArgs& args) {
  json out = json::object();
  if (auto s = CopyFlag(args, "label", "label", out); !s.ok()) return s;
  if (auto s = CopyFlag(args, "target-ip", "target_ip", out, CheckIp); !s.ok()) return s;
  for (absl::string_view f : {"limit", "offset"}) {
    if (auto s = CopyNumberFlag(args, f, out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<json> BuildKeepaliveQuery(const ParsedArgs& args) {
  return BuildIdArg(args, "id");
}

absl::StatusOr<json> BuildKeepaliveRemove(const ParsedArgs& args) {
  auto id = ParseNumber("id", args.positional[0]);
  if (!id.ok()) return id.status();
  return json{{"ids", json::array({*id})}};
}

absl::StatusOr<json> BuildKeepaliveAdd(const ParsedArgs& args) {
  for (const std::string& ep : {args.positional[0], args.positional[1]}) {
    if (auto s = CheckEndpoint(ep); !s.ok()) return s;
  }
  json target = {{"target", args.positional[0]}, {"source", args.positional[1]}};
  for (absl::string_view f : {"interval-ms", "jitter-ms"}) {
    if (const std::string* v = args.Flag(f)) {
      auto n = ParseNumber(f, *v);
      if (!n.ok()) return n.status();
      target[f == "interval-ms" ? "interval_ms" : "jitter_ms"] = *n;
    }
  }
  if (const std::string* p = args.Flag("payload")) target["payload"] = *p;
  if (const std::string* t = args.Flag("text")) target["payload"] = {{"text", *t}};
  if (const std::string* l = args.Flag("label")) target["label"] = *l;
  return json{{"targets", json::array({target})}};
}

absl::StatusOr<json> BuildEvents(const ParsedArgs& args) {
  if (const std::string* count = args.Flag("count")) {
    if (auto n = ParseNumber("--count", *count); !n.ok()) return n.status();
  }
  return json::object();
}

absl::StatusOr<json> BuildRaw(const ParsedArgs& args) {
  json request;
  try {
    request = json::parse(args.positional[0]);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("raw: not JSON: ", e.what()));
  }
  if (!request.is_object()) {
    return absl::InvalidArgumentError("raw: the request must be a JSON object");
  }
  return request;
}

absl::StatusOr<json> BuildRegistrations(const ParsedArgs& args) {
  json out = json::object();
  if (auto s = CopyFlag(args, "aor", "aor", out); !s.ok()) return s;
  if (auto s = CopyFlag(args, "user-agent", "user_agent", out); !s.ok()) return s;
  if (auto s = CopyFlag(args, "after", "after", out); !s.ok()) return s;
  if (args.Has("natted")) out["natted"] = true;
  for (absl::string_view f : {"limit", "offset"}) {
    if (auto s = CopyNumberFlag(args, f, out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<json> BuildRegistration(const ParsedArgs& args) {
  return json{{"aor", args.positional[0]}};
}

absl::StatusOr<json> BuildCalls(const ParsedArgs& args) {
  json out = json::object();
  for (absl::string_view f : {"limit", "offset"}) {
    if (auto s = CopyNumberFlag(args, f, out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<json> BuildCall(const ParsedArgs& args) {
  return json{{"call_id", args.positional[0]}};
}

absl::StatusOr<json> BuildUnban(const ParsedArgs& args) {
  return json{{"source", args.positional[0]}};
}

absl::StatusOr<json> BuildVip(const ParsedArgs& args) {
  return json{{"address", args.positional[0]}};
}

absl::StatusOr<json> BuildLogLevel(const ParsedArgs& args) {
  json request = json::object();
  if (!args.positional.empty()) request["level"] = args.positional[0];
  return request;
}

absl::StatusOr<json> BuildNgDrain(const ParsedArgs& args) {
  const std::string& v = args.positional[0];
  if (v != "on" && v != "off") return absl::InvalidArgumentError("on or off");
  return json{{"on", v == "on"}};
}

// --- runners

int RunRequest(Context& ctx, const Command& cmd, const ParsedArgs&,
               json request) {
  auto reply = ctx.client.Send(std::move(request));
  if (!reply.ok()) return ReportFailure(reply.status());
  if (!reply->ok) return ReportErrorReply(*reply);
  if (ctx.json_output || cmd.render == nullptr) {
    PrintJson(reply->result);
  } else {
    cmd.render(reply->result);
  }
  return kExitOk;
}

int RunRaw(Context& ctx, const Command&, const ParsedArgs&, json request) {
  auto reply = ctx.client.Send(std::move(request));
  if (!reply.ok()) return ReportFailure(reply.status());
  PrintJson(reply->raw);
  return reply->ok ? kExitOk : ReportErrorReply(*reply);
}

int RunEvents(Context& ctx, const Command&, const ParsedArgs& args,
              json request) {
  auto reply = ctx.client.Send(std::move(request));
  if (!reply.ok()) return ReportFailure(reply.status());
  if (!reply->ok) return ReportErrorReply(*reply);
  uint64_t limit = 0;  // 0: until killed
  if (const std::string* count = args.Flag("count")) {
    limit = ParseNumber("--count", *count).value_or(0);
  }
  for (uint64_t seen = 0; limit == 0 || seen < limit; ++seen) {
    auto event = ctx.client.NextEvent(/*timeout_ms=*/0);
    if (!event.ok()) return ReportFailure(event.status());
    std::cout << (ctx.json_output ? ToJsonLine(*event) : FormatEvent(*event))
              << std::endl;  // flush: events are watched live or piped
  }
  return kExitOk;
}

// The dataplane's socket (and `events`, `raw`, which speak to either).
std::vector<Command> DataplaneCommands() {
  return {
      {.name = "version", .protocol = "version", .synopsis = "",
       .description = "client and server versions", .render = RenderVersion},
      {.name = "help", .protocol = "help", .synopsis = "",
       .description = "commands the server understands", .render = RenderHelp},
      {.name = "stats", .protocol = "stats", .synopsis = "",
       .description = "per-lcore counters and non-zero drop reasons",
       .render = RenderStats},
      {.name = "streams", .protocol = "list",
       .synopsis = "[--state S] [--policy P] [--label L] [--peer-ip IP] "
                   "[--limit N] [--offset N]",
       .description = "table of streams",
       .value_flags = {"state", "policy", "label", "peer-ip", "limit", "offset"},
       .build = BuildList, .render = RenderStreams},
      {.name = "stream", .protocol = "query", .synopsis = "ID",
       .description = "one stream", .positionals = 1, .build = BuildQuery,
       .render = RenderStream},
      {.name = "allocate", .protocol = "allocate",
       .synopsis = "[--family-a ipv4|ipv6] [--family-b ipv4|ipv6] "
                   "[--peer-a IP:PORT] [--peer-b IP:PORT] [--policy-a P] "
                   "[--policy-b P] [--relay-a IP:PORT] [--relay-b IP:PORT] "
                   "[--label L] [--rtcp-mux]",
       .description = "allocate a stream pair (--relay-X: take that relay RTP port)",
       .value_flags = {"family-a", "family-b", "peer-a", "peer-b", "policy-a",
                       "policy-b", "relay-a", "relay-b", "label"},
       .switch_flags = {"rtcp-mux"}, .build = BuildAllocate,
       .render = RenderAllocate},
      {.name = "update", .protocol = "update",
       .synopsis = "ID [--peer IP:PORT|''] [--policy P]",
       .description = "change a stream's signalled peer or policy",
       .value_flags = {"peer", "policy"}, .positionals = 1,
       .build = BuildUpdate, .render = RenderStream},
      {.name = "delete", .protocol = "delete", .synopsis = "PAIR",
       .description = "delete a stream pair", .positionals = 1,
       .build = BuildDelete, .render = RenderDelete},
      {.name = "keepalives", .protocol = "keepalive_list",
       .synopsis = "[--target-ip IP] [--label L] [--limit N] [--offset N]",
       .description = "table of NAT keepalive targets",
       .value_flags = {"target-ip", "label", "limit", "offset"},
       .build = BuildKeepaliveList, .render = RenderKeepalives},
      {.name = "keepalive", .protocol = "keepalive_query", .synopsis = "ID",
       .description = "one keepalive target", .positionals = 1,
       .build = BuildKeepaliveQuery, .render = RenderKeepalive},
      {.name = "keepalive-add", .protocol = "keepalive_add",
       .synopsis = "TARGET SOURCE [--interval-ms N] [--jitter-ms N] "
                   "[--payload crlf|zero4] [--text T] [--label L]",
       .description = "send keepalives from SOURCE (a relay address:port) to TARGET",
       .value_flags = {"interval-ms", "jitter-ms", "payload", "text", "label"},
       .positionals = 2, .build = BuildKeepaliveAdd, .render = RenderKeepaliveAdd},
      {.name = "keepalive-remove", .protocol = "keepalive_remove", .synopsis = "ID",
       .description = "stop a keepalive target", .positionals = 1,
       .build = BuildKeepaliveRemove, .render = RenderKeepaliveRemove},
      {.name = "log-level", .protocol = "log_level", .synopsis = "[LEVEL]",
       .description = "the dataplane's log level (and DPDK's): error, warning, notice, info "
                      "or debug; without LEVEL, tell it",
       .optional_positionals = 1, .build = BuildLogLevel},
      {.name = "events", .protocol = "subscribe", .synopsis = "[--count N]",
       .description = "print latch events until killed (or N events)",
       .value_flags = {"count"}, .build = BuildEvents, .run = RunEvents},
      {.name = "raw", .protocol = "", .synopsis = "'JSON'",
       .description = "send a raw request object, print the whole reply",
       .positionals = 1, .build = BuildRaw, .run = RunRaw},
  };
}

// rtplatch-control's operator socket.
std::vector<Command> ControlPlaneCommands() {
  return {
      {.name = "registrations", .protocol = "registrations",
       .synopsis = "[--aor AOR] [--natted] [--user-agent S] [--after AOR] [--limit N] [--offset N]",
       .description = "control plane: table of registered contacts",
       .value_flags = {"aor", "user-agent", "after", "limit", "offset"},
       .switch_flags = {"natted"}, .build = BuildRegistrations,
       .render = RenderRegistrations, .control_plane = true},
      {.name = "registration", .protocol = "registration", .synopsis = "AOR",
       .description = "control plane: one AOR's bindings in full", .positionals = 1,
       .build = BuildRegistration, .render = RenderRegistration, .control_plane = true},
      {.name = "calls", .protocol = "calls", .synopsis = "[--limit N] [--offset N]",
       .description = "control plane: table of calls",
       .value_flags = {"limit", "offset"}, .build = BuildCalls, .render = RenderCalls,
       .control_plane = true},
      {.name = "call", .protocol = "call", .synopsis = "CALL-ID",
       .description = "control plane: one call with its legs and stream pairs",
       .positionals = 1, .build = BuildCall, .render = RenderCall, .control_plane = true},
      {.name = "sip-stats", .protocol = "stats", .synopsis = "",
       .description = "control plane: SIP and registrar counters",
       .render = RenderSipStats, .control_plane = true},
      {.name = "peers", .protocol = "peers", .synopsis = "",
       .description = "control plane: SIP peers' targets, up or down, with their counters",
       .render = RenderPeers, .control_plane = true},
      {.name = "cluster", .protocol = "cluster", .synopsis = "",
       .description = "control plane: its cluster's Redis and the nodes it hears (up or down)",
       .render = RenderCluster, .control_plane = true},
      {.name = "reload", .protocol = "reload", .synopsis = "",
       .description = "control plane: re-read the config file (as SIGHUP): the users file, "
                      "NAT policies, peers, routes and log level at once, calls and "
                      "registrations go on; a bad file is refused and the running config "
                      "stays",
       .control_plane = true},
      {.name = "control-log-level", .protocol = "log_level", .synopsis = "[LEVEL]",
       .description = "control plane: its log level: error, warning, notice, info or debug; "
                      "without LEVEL, tell it (a reload sets the config's)",
       .optional_positionals = 1, .build = BuildLogLevel, .control_plane = true},
      {.name = "drain", .protocol = "drain", .synopsis = "on|off",
       .description = "control plane: the node takes no new calls while on (SIP calls go to "
                      "the least loaded node of its cluster, ng offers are refused); calls "
                      "in progress go on",
       .positionals = 1, .build = BuildNgDrain, .control_plane = true},
      {.name = "ng-drain", .protocol = "ng_drain", .synopsis = "on|off",
       .description = "control plane: the ng server takes no new calls (Kamailio tries "
                      "its next node) while on; calls in progress go on",
       .positionals = 1, .build = BuildNgDrain, .control_plane = true},
      {.name = "bans", .protocol = "bans", .synopsis = "",
       .description = "control plane: sources the guard banned (flood, failed "
                      "authentication), why and for how much longer",
       .render = RenderBans, .control_plane = true},
      {.name = "unban", .protocol = "unban", .synopsis = "ADDRESS",
       .description = "control plane: lift the guard's ban on one source address",
       .positionals = 1, .build = BuildUnban, .control_plane = true},
      {.name = "vip-take", .protocol = "vip_take", .synopsis = "ADDRESS",
       .description = "control plane: take a VIP (keepalived's notify on becoming master): "
                      "relayed and announced here, its lease and its phones' bindings this node's",
       .positionals = 1, .build = BuildVip, .control_plane = true},
      {.name = "vip-release", .protocol = "vip_release", .synopsis = "ADDRESS",
       .description = "control plane: release a VIP (keepalived's notify on leaving master)",
       .positionals = 1, .build = BuildVip, .control_plane = true},
      {.name = "vip-check", .protocol = "vip_check", .synopsis = "ADDRESS",
       .description = "control plane: keepalived's track script; fails while Redis is "
                      "unreachable, or the VIP is taken here but its lease was lost",
       .positionals = 1, .build = BuildVip, .control_plane = true},
  };
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = [] {
    std::vector<Command> all = DataplaneCommands();
    std::vector<Command> control = ControlPlaneCommands();
    // In `help` order: the dataplane's, the control plane's, then the two
    // that speak to either socket.
    all.insert(all.end() - 2, control.begin(), control.end());
    return all;
  }();
  return kCommands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

void PrintUsage(std::ostream& out) {
  out << "usage: rtplatchctl [--socket PATH] [--control-socket PATH] [--json] "
         "[--timeout-ms N] COMMAND [ARGS]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    out << "  " << c.name << (c.synopsis.empty() ? "" : " ") << c.synopsis
        << "\n      " << c.description << "\n";
  }
  out << "\noptions (also accepted after COMMAND):\n";
  Table options{.columns = {{""}, {""}}, .show_header = false};
  options.rows = {
      {"  --socket PATH", absl::StrCat("dataplane socket (default $", kSocketEnv,
                                       " or ", kDefaultSocket, ")")},
      {"  --control-socket PATH",
       absl::StrCat("control plane socket, for its commands (default $",
                    kControlSocketEnv, " or ", kDefaultControlSocket, ")")},
      {"  --json", "print the reply's result as JSON (events: one per line)"},
      {"  --timeout-ms N", absl::StrCat("reply timeout, 0 waits forever (default ",
                                        kDefaultTimeoutMs, ")")},
      {"  --help, -h", "this text"},
  };
  PrintTable(options, out);
  out << "\nexit status: 0 ok, 1 error reply or failure, 2 usage error, "
         "3 cannot connect\n";
}

// --- parsing

struct Invocation {
  std::string socket;
  std::string control_socket;
  int timeout_ms = kDefaultTimeoutMs;
  bool json_output = false;
  bool help = false;
  const Command* command = nullptr;
  ParsedArgs args;  // command flags and positionals
};

constexpr absl::string_view kGlobalValueFlags[] = {"socket", "control-socket", "timeout-ms"};
constexpr absl::string_view kGlobalSwitches[] = {"json", "help"};

enum class FlagKind { kUnknown, kValue, kSwitch };

bool Contains(std::span<const absl::string_view> list, absl::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

FlagKind KindOf(absl::string_view name, const Command* cmd) {
  if (Contains(kGlobalValueFlags, name)) return FlagKind::kValue;
  if (Contains(kGlobalSwitches, name)) return FlagKind::kSwitch;
  if (cmd != nullptr && Contains(cmd->value_flags, name)) return FlagKind::kValue;
  if (cmd != nullptr && Contains(cmd->switch_flags, name)) return FlagKind::kSwitch;
  return FlagKind::kUnknown;
}

bool IsOption(absl::string_view arg) {
  return (arg.size() > 2 && arg.substr(0, 2) == "--") || arg == "-h";
}

// Consumes the option at argv[*i] (and its value) into `flags`.
absl::Status TakeOption(std::span<const absl::string_view> argv, size_t* i,
                        const Command* cmd, ParsedArgs& out) {
  absl::string_view arg = argv[*i] == "-h" ? "--help" : argv[*i];
  absl::string_view name = arg.substr(2);
  std::optional<absl::string_view> value;
  if (size_t eq = name.find('='); eq != absl::string_view::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  }
  switch (KindOf(name, cmd)) {
    case FlagKind::kUnknown:
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option --", name,
          cmd ? absl::StrCat(" for ", cmd->name)
              : " (command options go after COMMAND)"));
    case FlagKind::kSwitch:
      if (value) return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      out.flags[name] = "";
      return absl::OkStatus();
    case FlagKind::kValue:
      if (!value) {
        if (*i + 1 >= argv.size()) {
          return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        }
        value = argv[++*i];
      }
      out.flags[name] = std::string(*value);
      return absl::OkStatus();
  }
  return absl::InternalError("unreachable");
}

std::string DefaultSocket(const char* env_name, const char* fallback) {
  const char* env = std::getenv(env_name);
  return env != nullptr && *env != '\0' ? env : fallback;
}

// Moves the global options out of inv.args into inv's fields.
absl::Status ApplyGlobals(Invocation& inv) {
  auto& flags = inv.args.flags;
  inv.socket = flags.contains("socket") ? flags["socket"]
                                        : DefaultSocket(kSocketEnv, kDefaultSocket);
  inv.control_socket = flags.contains("control-socket")
                           ? flags["control-socket"]
                           : DefaultSocket(kControlSocketEnv, kDefaultControlSocket);
  inv.json_output = flags.contains("json");
  inv.help = flags.contains("help");
  if (flags.contains("timeout-ms")) {
    auto ms = ParseNumber("--timeout-ms", flags["timeout-ms"]);
    if (!ms.ok()) return ms.status();
    if (*ms > 3'600'000) return absl::InvalidArgumentError("--timeout-ms: at most 3600000");
    inv.timeout_ms = static_cast<int>(*ms);
  }
  for (absl::string_view f : {"socket", "control-socket", "json", "help", "timeout-ms"}) {
    flags.erase(f);
  }
  return absl::OkStatus();
}

absl::Status CheckPositionals(const Invocation& inv) {
  size_t want = inv.command->positionals;
  size_t got = inv.args.positional.size();
  if (got >= want && got <= want + inv.command->optional_positionals) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(inv.command->name, ": expected ", want,
                   want == 1 ? " argument" : " arguments", ", got ", got));
}

// Fills `inv`; on a usage error inv.command is still set when it was named.
absl::Status ParseCommandLine(std::span<const absl::string_view> argv,
                              Invocation& inv) {
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (!options_done && argv[i] == "--") {
      options_done = true;
    } else if (!options_done && IsOption(argv[i])) {
      if (auto s = TakeOption(argv, &i, inv.command, inv.args); !s.ok()) return s;
    } else if (inv.command != nullptr) {
      inv.args.positional.emplace_back(argv[i]);
    } else if ((inv.command = FindCommand(argv[i])) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown command '", argv[i], "'"));
    }
  }
  if (auto s = ApplyGlobals(inv); !s.ok()) return s;
  if (inv.help || inv.command == nullptr) return absl::OkStatus();
  return CheckPositionals(inv);
}

int UsageError(absl::string_view message, const Command* cmd) {
  std::cerr << "error: " << message << "\n";
  if (cmd != nullptr) {
    std::cerr << "usage: rtplatchctl [options] " << cmd->name << " "
              << cmd->synopsis << "\n";
  } else {
    std::cerr << "run 'rtplatchctl --help' for usage\n";
  }
  return kExitUsage;
}

absl::StatusOr<json> BuildRequest(const Command& cmd, const ParsedArgs& args) {
  json request = json::object();
  if (cmd.build != nullptr) {
    auto built = cmd.build(args);
    if (!built.ok()) return built.status();
    request = *std::move(built);
  }
  if (!cmd.protocol.empty()) request["cmd"] = cmd.protocol;
  return request;
}

int Main(std::span<const absl::string_view> argv) {
  Invocation inv;
  if (absl::Status s = ParseCommandLine(argv, inv); !s.ok()) {
    return UsageError(s.message(), inv.command);
  }
  if (inv.help) {
    PrintUsage(std::cout);
    return kExitOk;
  }
  if (inv.command == nullptr) return UsageError("no command given", nullptr);
  const Command& cmd = *inv.command;
  auto request = BuildRequest(cmd, inv.args);
  if (!request.ok()) return UsageError(request.status().message(), &cmd);
  ControlClient client(cmd.control_plane ? inv.control_socket : inv.socket, inv.timeout_ms);
  if (absl::Status s = client.Connect(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitConnect;
  }
  Context ctx{client, inv.json_output};
  return cmd.run(ctx, cmd, inv.args, *std::move(request));
}

}  // namespace
}  // namespace rtplatch::control

int main(int argc, char** argv) {
  std::vector<absl::string_view> args(argv + 1, argv + argc);
  try {
    return rtplatch::control::Main(args);
  } catch (const std::exception& e) {  // last resort; nothing should get here
    std::cerr << "error: internal: " << e.what() << "\n";
    return rtplatch::control::kExitError;
  }
}
