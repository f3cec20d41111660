#include "control/dns/dns_answer.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr size_t kHeaderBytes = 12;
// Answer records, CNAMEs included, a message may carry before it is
// refused: a huge answer is an attack or a broken server, not a peer list.
constexpr size_t kMaxAnswerRecords = 2 * kMaxDnsRecords;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeSoa = 6;

uint16_t Read16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Read32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed DNS answer: ", why));
}

std::string Name(const char* s) {
  std::string n = absl::AsciiStrToLower(s == nullptr ? "" : s);
  if (!n.empty() && n.back() == '.') n.pop_back();
  return n;
}

struct EncodedName {
  std::string name;  // lower case, no trailing dot
  size_t length = 0;  // bytes at `at` (a pointer counts 2)
};

// The (possibly compressed) name at `at`, checked by c-ares (pointer
// loops included).
absl::StatusOr<EncodedName> ReadName(const uint8_t* data, size_t size, size_t at) {
  if (at >= size) return Malformed("a name runs past the end");
  char* name = nullptr;
  long encoded = 0;  // NOLINT(runtime/int): c-ares's type
  if (ares_expand_name(data + at, data, static_cast<int>(size), &name, &encoded) != ARES_SUCCESS) {
    return Malformed("a name does not decode");
  }
  EncodedName out{Name(name), static_cast<size_t>(encoded)};
  ares_free_string(name);
  if (encoded <= 0 || at + out.length > size) return Malformed("a name runs past the end");
  return out;
}

absl::StatusOr<size_t> NameLength(const uint8_t* data, size_t size, size_t at) {
  absl::StatusOr<EncodedName> n = ReadName(data, size, at);
  if (!n.ok()) return n.status();
  return n->length;
}

struct Walk {
  uint8_t rcode = 0;
  size_t answers = 0;
  uint32_t min_ttl = kMaxDnsTtlS;
  std::optional<uint32_t> negative_ttl;  // from the authority's SOA
  std::string qname;
  absl::flat_hash_map<std::string, std::string> aliases;  // the answer's CNAMEs
};

// One resource record at `at`: its TTL into the walk, `at` past it.
absl::Status WalkRecord(const uint8_t* data, size_t size, size_t& at, bool answer,
                        Walk& walk) {
  absl::StatusOr<EncodedName> owner = ReadName(data, size, at);
  if (!owner.ok()) return owner.status();
  at += owner->length;
  if (at + 10 > size) return Malformed("a record header is cut short");
  const uint16_t type = Read16(data + at);
  const uint32_t ttl = std::min(Read32(data + at + 4), kMaxDnsTtlS);
  const uint16_t rdlength = Read16(data + at + 8);
  at += 10;
  if (at + rdlength > size) return Malformed("a record's data runs past the end");
  if (answer) walk.min_ttl = std::min(walk.min_ttl, ttl);
  if (answer && type == kTypeCname) {
    absl::StatusOr<EncodedName> target = ReadName(data, size, at);
    if (!target.ok()) return target.status();
    if (target->length > rdlength) return Malformed("a CNAME runs past its record");
    auto [alias, added] = walk.aliases.try_emplace(owner->name, target->name);
    if (!added && alias->second != target->name) {
      return Malformed(absl::StrCat("two CNAMEs for ", owner->name));
    }
  }
  if (!answer && type == kTypeSoa) {
    // MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM.
    size_t p = at;
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<size_t> n = NameLength(data, size, p);
      if (!n.ok()) return n.status();
      p += *n;
    }
    if (p + 20 > at + rdlength) return Malformed("an SOA record is cut short");
    walk.negative_ttl = std::min(ttl, Read32(data + p + 16));
  }
  at += rdlength;
  return absl::OkStatus();
}

// The CNAMEs from the asked name on: no loop, at most kMaxCnameChain.
// c-ares follows any chain the message holds; a loop or a chain this long
// is a broken or hostile zone, not an alias for a server.
absl::Status CheckAliases(const Walk& walk) {
  std::string name = walk.qname;
  size_t steps = 0;
  for (auto it = walk.aliases.find(name); it != walk.aliases.end(); it = walk.aliases.find(name)) {
    if (++steps > walk.aliases.size()) return Malformed(absl::StrCat("a CNAME loop at ", name));
    if (steps > kMaxCnameChain) {
      return Malformed(absl::StrCat("a CNAME chain longer than ", kMaxCnameChain));
    }
    name = it->second;
  }
  return absl::OkStatus();
}

absl::StatusOr<Walk> WalkMessage(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return Malformed("shorter than its header");
  Walk walk;
  walk.rcode = data[3] & 0x0f;
  const size_t questions = Read16(data + 4);
  walk.answers = Read16(data + 6);
  const size_t authority = Read16(data + 8);
  if (walk.answers > kMaxAnswerRecords) {
    return Malformed(absl::StrCat(walk.answers, " answer records (at most ", kMaxAnswerRecords,
                                  ")"));
  }
  if (questions != 1) return Malformed(absl::StrCat(questions, " questions"));
  size_t at = kHeaderBytes;
  absl::StatusOr<EncodedName> qname = ReadName(data, size, at);
  if (!qname.ok()) return qname.status();
  walk.qname = std::move(qname->name);
  at += qname->length + 4;
  if (at > size) return Malformed("the question is cut short");
  for (size_t i = 0; i < walk.answers; ++i) {
    if (absl::Status s = WalkRecord(data, size, at, true, walk); !s.ok()) return s;
  }
  for (size_t i = 0; i < authority && i < kMaxAnswerRecords; ++i) {
    if (absl::Status s = WalkRecord(data, size, at, false, walk); !s.ok()) return s;
  }
  if (absl::Status s = CheckAliases(walk); !s.ok()) return s;
  return walk;
}

absl::Status ReadAddresses(DnsType type, const uint8_t* data, size_t size, DnsRecords& out) {
  int count = static_cast<int>(kMaxDnsRecords) + 1;
  int rc;
  if (type == DnsType::kA) {
    ares_addrttl ttls[kMaxDnsRecords + 1];
    rc = ares_parse_a_reply(data, static_cast<int>(size), nullptr, ttls, &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      out.addresses.push_back(IpAddress::FromV4(ntohl(ttls[i].ipaddr.s_addr)));
    }
  } else {
    ares_addr6ttl ttls[kMaxDnsRecords + 1];
    rc = ares_parse_aaaa_reply(data, static_cast<int>(size), nullptr, ttls, &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      out.addresses.push_back(IpAddress::FromV6Bytes(ttls[i].ip6addr._S6_un._S6_u8));
    }
  }
  if (rc == ARES_ENODATA) return absl::OkStatus();
  if (rc != ARES_SUCCESS) return Malformed(ares_strerror(rc));
  return absl::OkStatus();
}

absl::Status ReadSrv(const uint8_t* data, size_t size, DnsRecords& out) {
  ares_srv_reply* srv = nullptr;
  const int rc = ares_parse_srv_reply(data, static_cast<int>(size), &srv);
  if (rc == ARES_ENODATA) return absl::OkStatus();
  if (rc != ARES_SUCCESS) return Malformed(ares_strerror(rc));
  for (ares_srv_reply* r = srv; r != nullptr; r = r->next) {
    out.srv.push_back(SrvRecord{r->priority, r->weight, r->port, Name(r->host)});
  }
  ares_free_data(srv);
  return absl::OkStatus();
}

absl::Status ReadNaptr(const uint8_t* data, size_t size, DnsRecords& out) {
  ares_naptr_reply* naptr = nullptr;
  const int rc = ares_parse_naptr_reply(data, static_cast<int>(size), &naptr);
  if (rc == ARES_ENODATA) return absl::OkStatus();
  if (rc != ARES_SUCCESS) return Malformed(ares_strerror(rc));
  for (ares_naptr_reply* r = naptr; r != nullptr; r = r->next) {
    NaptrRecord n;
    n.order = r->order;
    n.preference = r->preference;
    n.flags = absl::AsciiStrToLower(reinterpret_cast<const char*>(r->flags));
    n.service = absl::AsciiStrToUpper(reinterpret_cast<const char*>(r->service));
    n.replacement = Name(r->replacement);
    out.naptr.push_back(std::move(n));
  }
  ares_free_data(naptr);
  return absl::OkStatus();
}

}  // namespace

absl::string_view DnsTypeName(DnsType t) {
  switch (t) {
    case DnsType::kA: return "A";
    case DnsType::kAaaa: return "AAAA";
    case DnsType::kSrv: return "SRV";
    case DnsType::kNaptr: return "NAPTR";
  }
  return "?";
}

absl::StatusOr<DnsRecords> ParseDnsAnswer(DnsType type, const uint8_t* data, size_t size) {
  absl::StatusOr<Walk> walk = WalkMessage(data, size);
  if (!walk.ok()) return walk.status();
  DnsRecords out;
  if (walk->rcode == ns_r_nxdomain) {
    out.negative = true;
  } else if (walk->rcode != ns_r_noerror) {
    return absl::UnavailableError(absl::StrCat("DNS server answered rcode ", walk->rcode));
  } else if (walk->answers > 0) {
    absl::Status s;
    switch (type) {
      case DnsType::kA:
      case DnsType::kAaaa: s = ReadAddresses(type, data, size, out); break;
      case DnsType::kSrv: s = ReadSrv(data, size, out); break;
      case DnsType::kNaptr: s = ReadNaptr(data, size, out); break;
    }
    if (!s.ok()) return s;
  }
  const size_t records = out.addresses.size() + out.srv.size() + out.naptr.size();
  if (records > kMaxDnsRecords) {
    return Malformed(absl::StrCat(records, " records (at most ", kMaxDnsRecords, ")"));
  }
  if (records == 0) out.negative = true;  // NXDOMAIN, or NODATA
  if (out.negative) {
    out.ttl_s = std::max<uint32_t>(1, walk->negative_ttl.value_or(kDefaultNegativeTtlS));
  } else {
    out.ttl_s = walk->min_ttl;
  }
  return out;
}

}  // namespace rtplatch
