// Builds DNS messages for the DNS tests: a query's answer with records of
// any type, in wire format (RFC 1035), names uncompressed unless a test
// writes a pointer itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace rtplatch::testing {

class DnsMessage {
 public:
  // A response to one question (`name`, `type`) with response code `rcode`.
  DnsMessage(uint16_t id, absl::string_view name, uint16_t type, uint8_t rcode = 0) {
    Put16(id);
    Put16(0x8180 | rcode);  // QR, RD, RA
    Put16(1);
    counts_at_ = bytes_.size();
    Put16(0);  // answers
    Put16(0);  // authority
    Put16(0);  // additional
    PutName(name);
    Put16(type);
    Put16(1);
  }

  DnsMessage& A(absl::string_view name, uint32_t ttl, const uint8_t (&ip)[4]) {
    return Record(name, 1, ttl, std::string(reinterpret_cast<const char*>(ip), 4));
  }
  DnsMessage& Aaaa(absl::string_view name, uint32_t ttl, const uint8_t (&ip)[16]) {
    return Record(name, 28, ttl, std::string(reinterpret_cast<const char*>(ip), 16));
  }
  DnsMessage& Cname(absl::string_view name, uint32_t ttl, absl::string_view target) {
    return Record(name, 5, ttl, Name(target));
  }
  DnsMessage& Srv(absl::string_view name, uint32_t ttl, uint16_t priority, uint16_t weight,
                  uint16_t port, absl::string_view target) {
    return Record(name, 33, ttl, Be16(priority) + Be16(weight) + Be16(port) + Name(target));
  }
  DnsMessage& Naptr(absl::string_view name, uint32_t ttl, uint16_t order, uint16_t preference,
                    absl::string_view flags, absl::string_view service,
                    absl::string_view replacement) {
    return Record(name, 35, ttl,
                  Be16(order) + Be16(preference) + Str(flags) + Str(service) + Str("") +
                      Name(replacement));
  }
  // An SOA in the authority section (negative answers' TTL).
  DnsMessage& Soa(absl::string_view zone, uint32_t ttl, uint32_t minimum) {
    std::string rdata = Name(absl::StrCat("ns.", zone)) + Name(absl::StrCat("admin.", zone));
    for (uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) rdata += Be32(v);
    authority_ = true;
    return Record(zone, 6, ttl, rdata);
  }

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& mutable_bytes() { return bytes_; }

  static std::string Name(absl::string_view name) {
    std::string out;
    for (absl::string_view label : absl::StrSplit(name, '.', absl::SkipEmpty())) {
      out.push_back(static_cast<char>(label.size()));
      out.append(label.data(), label.size());
    }
    out.push_back('\0');
    return out;
  }

 private:
  static std::string Be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
  static std::string Be32(uint32_t v) { return Be16(v >> 16) + Be16(v & 0xffff); }
  static std::string Str(absl::string_view s) {
    return std::string(1, static_cast<char>(s.size())) + std::string(s.data(), s.size());
  }
  void Put16(uint16_t v) {
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
    bytes_.push_back(static_cast<uint8_t>(v));
  }
  void PutName(absl::string_view name) {
    const std::string n = Name(name);
    bytes_.insert(bytes_.end(), n.begin(), n.end());
  }
  DnsMessage& Record(absl::string_view name, uint16_t type, uint32_t ttl,
                     const std::string& rdata) {
    PutName(name);
    Put16(type);
    Put16(1);
    const std::string t = Be32(ttl);
    bytes_.insert(bytes_.end(), t.begin(), t.end());
    Put16(static_cast<uint16_t>(rdata.size()));
    bytes_.insert(bytes_.end(), rdata.begin(), rdata.end());
    // Records go in order: answers first, then the authority's SOA.
    const size_t at = counts_at_ + (authority_ ? 2 : 0);
    const uint16_t n = static_cast<uint16_t>(bytes_[at] << 8 | bytes_[at + 1]) + 1;
    bytes_[at] = static_cast<uint8_t>(n >> 8);
    bytes_[at + 1] = static_cast<uint8_t>(n);
    return *this;
  }

  std::vector<uint8_t> bytes_;
  size_t counts_at_ = 0;
  bool authority_ = false;
};

}  // namespace rtplatch::testing
