#include "dataplane/control/dataplane_config.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "common/json_protocol.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kWhere = "config: ";

absl::Status FieldError(absl::string_view field, absl::string_view why) {
  return rtplatch::FieldError(kWhere, field, why);
}

template <typename T>
absl::Status ReadUnsigned(const json& j, absl::string_view key, uint64_t min, uint64_t max,
                          T* out) {
  return ReadUnsignedInto(j, key, min, max, kWhere, out);
}

absl::Status ReadPortId(const json& j, absl::string_view key, bool allow_none,
                        int32_t* out) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_number_integer()) return FieldError(key, "must be an integer port id");
  int64_t v = it->get<int64_t>();
  if (v < (allow_none ? -1 : 0) || v > 1023) {
    return FieldError(key, absl::StrCat(v, " is not a DPDK port id",
                                        allow_none ? " (or -1 for none)" : ""));
  }
  *out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

absl::Status ReadAddress(const json& j, absl::string_view key, bool want_v4,
                         IpAddress* out) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_string()) return FieldError(key, "must be an address string");
  auto ip = IpAddress::Parse(it->get<std::string>());
  if (!ip.ok()) return FieldError(key, ip.status().message());
  if (ip->is_v4() != want_v4) {
    return FieldError(key, want_v4 ? "must be IPv4" : "must be IPv6");
  }
  *out = *ip;
  return absl::OkStatus();
}

absl::StatusOr<StaticNeighbor> ParseNeighbor(const json& n, size_t index) {
  std::string field = absl::StrCat("neighbors[", index, "]");
  if (!n.is_object() || !n.contains("ip") || !n.contains("mac") ||
      !n["ip"].is_string() || !n["mac"].is_string()) {
    return FieldError(field, "must be {\"ip\": \"...\", \"mac\": \"aa:bb:cc:dd:ee:ff\"}");
  }
  StaticNeighbor s;
  auto ip = IpAddress::Parse(n["ip"].get<std::string>());
  if (!ip.ok()) return FieldError(field, ip.status().message());
  s.ip = *ip;
  std::vector<std::string> parts = absl::StrSplit(n["mac"].get<std::string>(), ':');
  if (parts.size() != 6) return FieldError(field, "mac must have 6 octets");
  for (size_t i = 0; i < 6; ++i) {
    uint32_t octet;
    bool hex = parts[i].size() == 2 && std::isxdigit(static_cast<unsigned char>(parts[i][0])) &&
               std::isxdigit(static_cast<unsigned char>(parts[i][1]));
    if (!hex || !absl::SimpleHexAtoi(parts[i], &octet)) {
      return FieldError(field, absl::StrCat("bad mac octet '", parts[i], "'"));
    }
    s.mac[i] = static_cast<uint8_t>(octet);
  }
  return s;
}

absl::Status ReadAddressList(const json& j, const char* name, std::vector<IpAddress>* out) {
  auto it = j.find(name);
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_array()) return FieldError(name, "must be a list of addresses");
  out->clear();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& a = (*it)[i];
    std::string field = absl::StrCat(name, "[", i, "]");
    if (!a.is_string()) return FieldError(field, "must be an address string");
    auto ip = IpAddress::Parse(a.get<std::string>());
    if (!ip.ok()) return FieldError(field, ip.status().message());
    out->push_back(*ip);
  }
  return absl::OkStatus();
}

absl::Status ParseInto(const json& j, DataplaneConfig& c) {
  if (absl::Status s = CheckKnownFields(
          j, {"control_socket", "media_port", "media_tx_port", "exception_port",
              "relay_addresses", "standby_addresses", "exception_interface", "port_min", "port_max", "gateway_v4", "gateway_v6",
              "neighbors", "default_policy", "learning_window_packets", "learning_window_ms",
              "relatch_silence_ms", "idle_timeout_s", "mbufs_per_lcore", "rx_descriptors",
              "tx_descriptors", "ice_streams_per_lcore", "metrics_listen", "log_level"},
          kWhere);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadStringInto(j, "control_socket", kWhere, &c.control_socket, "a non-empty path");
      !s.ok()) {
    return s;
  }
  if (auto s = ReadEndpointInto(j, "metrics_listen", kWhere, "127.0.0.1:9471", &c.metrics_listen);
      !s.ok()) {
    return s;
  }
  if (j.contains("log_level")) {
    LogLevel level = Logger::kDefaultLevel;
    if (auto s = ReadLogLevelInto(j, kWhere, &level); !s.ok()) return s;
    c.log_level = level;
  }
  int32_t media = c.media_port;
  if (auto s = ReadPortId(j, "media_port", false, &media); !s.ok()) return s;
  c.media_port = static_cast<uint16_t>(media);
  if (auto s = ReadPortId(j, "media_tx_port", true, &c.media_tx_port); !s.ok()) return s;
  if (auto s = ReadPortId(j, "exception_port", true, &c.exception_port); !s.ok()) return s;
  if (auto s = ReadAddressList(j, "relay_addresses", &c.relay_addresses); !s.ok()) return s;
  if (auto s = ReadAddressList(j, "standby_addresses", &c.standby_addresses); !s.ok()) return s;
  if (absl::Status s = ReadStringInto(j, "exception_interface", kWhere, &c.exception_interface,
                                      "an interface name");
      !s.ok()) {
    return s;
  }
  if (c.exception_interface.size() >= 16) {  // IFNAMSIZ with its NUL
    return FieldError("exception_interface", "longer than an interface name can be (15)");
  }
  if (c.relay_addresses.empty()) return FieldError("relay_addresses", "required, non-empty");
  if (auto s = ReadUnsigned(j, "port_min", 1, 65535, &c.port_min); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "port_max", 1, 65535, &c.port_max); !s.ok()) return s;
  // RTP starts on the first even port: at least two RTP/RTCP pairs.
  if (c.port_max < ((c.port_min + 1u) & ~1u) + 3u) {
    return FieldError("port_max", absl::StrCat(c.port_max, " leaves fewer than 2 port pairs above port_min ", c.port_min));
  }
  if (auto s = ReadAddress(j, "gateway_v4", true, &c.gateway_v4); !s.ok()) return s;
  if (auto s = ReadAddress(j, "gateway_v6", false, &c.gateway_v6); !s.ok()) return s;
  if (auto it = j.find("neighbors"); it != j.end()) {
    if (!it->is_array()) return FieldError("neighbors", "must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      auto n = ParseNeighbor((*it)[i], i);
      if (!n.ok()) return n.status();
      c.neighbors.push_back(*n);
    }
  }
  if (auto it = j.find("default_policy"); it != j.end()) {
    if (!it->is_string() || !ParseLatchPolicy(it->get<std::string>(), &c.default_policy)) {
      return FieldError("default_policy", "must be one of learn, strict, asymmetric");
    }
  }
  uint64_t ms = c.latch.window_ns / 1'000'000;
  if (auto s = ReadUnsigned(j, "learning_window_packets", 1, 65535, &c.latch.window_packets); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "learning_window_ms", 1, 3'600'000, &ms); !s.ok()) return s;
  c.latch.window_ns = ms * 1'000'000;
  ms = c.latch.relatch_silence_ns / 1'000'000;
  if (auto s = ReadUnsigned(j, "relatch_silence_ms", 0, 3'600'000, &ms); !s.ok()) return s;
  c.latch.relatch_silence_ns = ms * 1'000'000;
  if (auto s = ReadUnsigned(j, "idle_timeout_s", 1, 86400, &c.idle_timeout_s); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "mbufs_per_lcore", 1023, 1u << 22, &c.mbufs_per_lcore); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "rx_descriptors", 64, 16384, &c.rx_descriptors); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "tx_descriptors", 64, 16384, &c.tx_descriptors); !s.ok()) return s;
  if (auto s = ReadUnsigned(j, "ice_streams_per_lcore", 0, 1u << 20, &c.ice_streams_per_lcore);
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DataplaneConfig> ParseDataplaneConfig(absl::string_view json_text) {
  absl::StatusOr<json> j = ParseJsonConfig(json_text);
  if (!j.ok()) return j.status();
  DataplaneConfig c;
  if (auto s = ParseInto(*j, c); !s.ok()) return s;
  return c;
}

absl::StatusOr<DataplaneConfig> LoadDataplaneConfig(const std::string& path) {
  return LoadJsonConfig(path, ParseDataplaneConfig);
}

}  // namespace rtplatch
