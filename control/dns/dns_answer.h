// One DNS answer as the resolver caches it: the records of the asked type
// (addresses, SRV or NAPTR), the time they may be kept, or a negative
// answer (the name or the type does not exist) with its own TTL.
//
// The record data is read by c-ares's parsers; the TTLs, the response code
// and the negative TTL (RFC 2308: the SOA's TTL capped by its MINIMUM) by a
// walk of the message that checks every length against the buffer and
// follows the answer's CNAMEs from the asked name (no loop, a bounded
// chain). An answer that does not parse is an error, never a partial
// record set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip_address.h"

namespace rtplatch {

enum class DnsType : uint16_t { kA = 1, kAaaa = 28, kSrv = 33, kNaptr = 35 };
absl::string_view DnsTypeName(DnsType t);

struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;  // lower case, no trailing dot
};

struct NaptrRecord {
  uint16_t order = 0;
  uint16_t preference = 0;
  std::string flags;        // lower case, e.g. "s"
  std::string service;      // upper case, e.g. "SIP+D2U"
  std::string replacement;  // lower case, no trailing dot
};

struct DnsRecords {
  bool negative = false;  // NXDOMAIN, or no record of the type (NODATA)
  uint32_t ttl_s = 0;     // how long this answer holds (negative: RFC 2308)
  std::vector<IpAddress> addresses;  // A / AAAA
  std::vector<SrvRecord> srv;
  std::vector<NaptrRecord> naptr;
};

// The bounds an answer must keep: anything beyond is malformed, not cut.
inline constexpr size_t kMaxDnsRecords = 64;
// CNAMEs from the asked name to its records (a SIP server's name needs one
// or two; resolvers give up at 8 to 16). A loop is malformed too.
inline constexpr size_t kMaxCnameChain = 8;
inline constexpr uint32_t kMaxDnsTtlS = 86400;
// A negative answer without an SOA to say how long it holds.
inline constexpr uint32_t kDefaultNegativeTtlS = 30;

// `type`: what was asked. InvalidArgument for a malformed message, a
// response code other than NOERROR/NXDOMAIN (Unavailable: SERVFAIL,
// REFUSED...), or too many records.
absl::StatusOr<DnsRecords> ParseDnsAnswer(DnsType type, const uint8_t* data, size_t size);

}  // namespace rtplatch
