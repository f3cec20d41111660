#include "control/ng/ng_options.h"

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

// rtpengine's spellings all read alike: "address-family", "address family",
// "Address_Family".
std::string Normalized(absl::string_view key) {
  std::string out = absl::AsciiStrToLower(key);
  for (char& c : out) {
    if (c == '-' || c == '_') c = ' ';
  }
  return out;
}

absl::Status WrongType(absl::string_view key, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("'", key, "' must be ", want));
}

absl::StatusOr<std::string> StringOf(absl::string_view key, const BencodeValue& v) {
  if (v.is_string()) return v.string();
  if (v.is_integer()) return absl::StrCat(v.integer());  // JSON clients send numbers
  return WrongType(key, "a string");
}

// A list of strings; a single string counts as a one-item list.
absl::StatusOr<std::vector<std::string>> StringsOf(absl::string_view key,
                                                   const BencodeValue& v) {
  if (v.is_string()) return std::vector<std::string>{v.string()};
  if (!v.is_list()) return WrongType(key, "a list of strings");
  std::vector<std::string> out;
  for (const BencodeValue& item : v.list()) {
    if (!item.is_string()) return WrongType(key, "a list of strings");
    out.push_back(item.string());
  }
  return out;
}

absl::StatusOr<int64_t> IntegerOf(absl::string_view key, const BencodeValue& v) {
  int64_t n = 0;
  if (v.is_integer()) return v.integer();
  if (v.is_string() && absl::SimpleAtoi(v.string(), &n)) return n;
  return WrongType(key, "an integer");
}

absl::StatusOr<IpAddress> AddressOf(absl::string_view key, absl::string_view text) {
  auto ip = IpAddress::Parse(text);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", key, "': '", text.substr(0, 64),
                                                   "' is not an IP address"));
  }
  return *ip;
}

class Reader {
 public:
  explicit Reader(NgOptions& o) : o_(o) {}

  absl::Status Key(absl::string_view raw, const BencodeValue& v);

 private:
  absl::Status Number(absl::string_view raw, absl::string_view key, const BencodeValue& v);
  absl::Status ListKey(absl::string_view raw, absl::string_view key, const BencodeValue& v);
  absl::Status Flag(absl::string_view raw);
  absl::Status ReceivedFrom(absl::string_view raw, const BencodeValue& v);
  void Replace(absl::string_view raw);
  void RtcpMux(absl::string_view raw);
  absl::Status Ice(absl::string_view raw);
  absl::Status AddressFamily(absl::string_view raw);

  NgOptions& o_;
};

absl::Status Reader::Key(absl::string_view raw, const BencodeValue& v) {
  const std::string key = Normalized(raw);
  auto set_string = [&](std::string& field) -> absl::Status {
    absl::StatusOr<std::string> s = StringOf(raw, v);
    if (!s.ok()) return s.status();
    field = *std::move(s);
    return absl::OkStatus();
  };
  auto set_optional = [&](std::optional<std::string>& field) -> absl::Status {
    std::string value;
    if (absl::Status s = set_string(value); !s.ok()) return s;
    field = std::move(value);
    return absl::OkStatus();
  };
  if (key == "command" || key == "sip message type" || key == "sip code") return absl::OkStatus();
  if (key == "call id") return set_string(o_.call_id);
  if (key == "from tag") return set_string(o_.from_tag);
  if (key == "to tag") return set_string(o_.to_tag);
  if (key == "via branch") return set_string(o_.via_branch);
  if (key == "label" || key == "from label") return set_string(o_.label);
  if (key == "sdp") return set_optional(o_.sdp);
  if (key == "transport protocol") return set_optional(o_.transport_protocol);
  if (key == "received from") return ReceivedFrom(raw, v);
  if (key == "media address") {
    absl::StatusOr<std::string> s = StringOf(raw, v);
    if (!s.ok()) return s.status();
    absl::StatusOr<IpAddress> ip = AddressOf(raw, *s);
    if (!ip.ok()) return ip.status();
    o_.media_address = *ip;
    return absl::OkStatus();
  }
  if (key == "address family") {
    absl::StatusOr<std::string> s = StringOf(raw, v);
    return s.ok() ? AddressFamily(*s) : s.status();
  }
  if (key == "delete delay" || key == "limit") return Number(raw, key, v);
  return ListKey(raw, key, v);
}

absl::Status Reader::Number(absl::string_view raw, absl::string_view key, const BencodeValue& v) {
  absl::StatusOr<int64_t> n = IntegerOf(raw, v);
  if (!n.ok()) return n.status();
  if (key == "limit") {
    if (*n <= 0) return WrongType(raw, "a positive integer");
    o_.limit = *n;
  } else {
    if (*n < 0) return WrongType(raw, "zero or more seconds");
    o_.delete_delay_s = *n;
  }
  return absl::OkStatus();
}

// The keys whose value is a list of strings (or one string).
absl::Status Reader::ListKey(absl::string_view raw, absl::string_view key,
                             const BencodeValue& v) {
  std::function<absl::Status(absl::string_view)> item;
  if (key == "flags") {
    item = [&](absl::string_view f) { return Flag(f); };
  } else if (key == "replace") {
    item = [&](absl::string_view f) { Replace(f); return absl::OkStatus(); };
  } else if (key == "rtcp mux") {
    item = [&](absl::string_view f) { RtcpMux(f); return absl::OkStatus(); };
  } else if (key == "direction") {
    item = [&](absl::string_view f) {
      o_.direction.emplace_back(f);
      return absl::OkStatus();
    };
  } else if (key == "ice") {
    item = [&](absl::string_view f) { return Ice(f); };
  } else if (key == "supports") {
    item = [&](absl::string_view f) {
      if (Normalized(f) == "load limit") o_.supports_load_limit = true;
      return absl::OkStatus();
    };
  } else {
    o_.ignored.push_back(std::string(raw));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> items = StringsOf(raw, v);
  if (!items.ok()) return items.status();
  for (const std::string& i : *items) {
    if (absl::Status s = item(i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Reader::Flag(absl::string_view raw) {
  // "key=value" in the flags list is the key with that value.
  if (const size_t eq = raw.find('='); eq != absl::string_view::npos) {
    return Key(raw.substr(0, eq), BencodeValue::String(std::string(raw.substr(eq + 1))));
  }
  const std::string flag = Normalized(raw);
  if (absl::StartsWith(flag, "replace ")) {
    Replace(raw.substr(8));
  } else if (absl::StartsWith(flag, "rtcp mux ")) {
    RtcpMux(raw.substr(9));
  } else if (flag == "trust address") {
    o_.address_source = NgAddressSource::kSdp;
  } else if (flag == "sip source address") {
    o_.address_source = NgAddressSource::kSipSource;
  } else if (flag == "symmetric" || flag == "media handover") {
    o_.policy = LatchPolicy::kLearn;
  } else if (flag == "asymmetric") {
    o_.policy = LatchPolicy::kAsymmetric;
  } else if (flag == "strict source") {
    o_.policy = LatchPolicy::kStrict;
  } else if (flag == "port latching" || flag == "no port latching") {
    // rtplatch never moves a call's relay ports: latching is always on.
  } else if (flag == "fatal") {
    o_.fatal = true;
  } else if (flag == "fast") {
    o_.fast = true;
  } else if (flag == "to tag") {
    o_.to_tag_flag = true;
  } else if (flag == "internal" || flag == "external") {
    o_.direction.emplace_back(flag);
  } else {
    o_.ignored.push_back(std::string(raw));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReceivedFrom(absl::string_view raw, const BencodeValue& v) {
  absl::StatusOr<std::vector<std::string>> items = StringsOf(raw, v);
  if (!items.ok()) return items.status();
  // ["IP4", "192.0.2.1"] as rtpengine documents it; a bare address too.
  if (items->empty() || items->size() > 2) return WrongType(raw, "[family, address]");
  absl::StatusOr<IpAddress> ip = AddressOf(raw, items->back());
  if (!ip.ok()) return ip.status();
  o_.received_from = *ip;
  return absl::OkStatus();
}

void Reader::Replace(absl::string_view raw) {
  const std::string what = Normalized(raw);
  NgReplace& r = o_.replace;
  if (what == "origin" || what == "origin full") {
    r.origin = true;
  } else if (what == "session connection" || what == "session connection address") {
    r.session_connection = true;
  } else if (what == "sdp version") {
    r.sdp_version = true;
  } else if (what == "force increment sdp ver") {
    r.force_increment_sdp_version = true;
    r.sdp_version = true;
  } else if (what == "session name") {
    r.session_name = true;
  } else if (what == "username") {
    r.username = true;
  } else if (what == "zero address") {
    r.zero_address = true;
  } else {
    o_.ignored.push_back(absl::StrCat("replace ", raw));
  }
}

void Reader::RtcpMux(absl::string_view raw) {
  const std::string what = Normalized(raw);
  NgRtcpMux& m = o_.rtcp_mux;
  if (what == "offer") {
    m.offer = true;
  } else if (what == "require") {
    m.require = true;
  } else if (what == "demux") {
    m.demux = true;
  } else if (what == "accept") {
    m.accept = true;
  } else if (what == "reject") {
    m.reject = true;
  } else {
    o_.ignored.push_back(absl::StrCat("rtcp-mux ", raw));
  }
}

absl::Status Reader::Ice(absl::string_view raw) {
  const std::string what = Normalized(raw);
  if (what == "remove") {
    o_.ice = NgIce::kRemove;
  } else if (what == "force" || what == "force relay" || what == "optional") {
    o_.ice = NgIce::kForce;
  } else if (what == "default") {
    o_.ice = NgIce::kDefault;
  } else {
    o_.ignored.push_back(absl::StrCat("ICE ", raw));
  }
  return absl::OkStatus();
}

absl::Status Reader::AddressFamily(absl::string_view raw) {
  const std::string family = absl::AsciiStrToUpper(raw);
  if (family == "IP4") {
    o_.ipv6 = false;
  } else if (family == "IP6") {
    o_.ipv6 = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'address family': '", raw.substr(0, 16), "' is not IP4 or IP6"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NgOptions> ParseNgOptions(const NgRequest& request) {
  NgOptions options;
  Reader reader(options);
  for (const BencodeEntry& entry : request.dictionary.entries()) {
    if (absl::Status s = reader.Key(entry.key, entry.value); !s.ok()) return s;
  }
  return options;
}

}  // namespace rtplatch
