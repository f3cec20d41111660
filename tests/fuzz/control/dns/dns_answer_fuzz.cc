// DNS answers (control/dns/dns_answer.h): any message a server sends back,
// read as the answer to each type the locator asks (A, AAAA, SRV, NAPTR).
// Every type reads the same bytes: a server may answer any question with
// anything.
#include <cstddef>
#include <cstdint>

#include "control/dns/dns_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rtplatch::DnsType;
  for (DnsType type : {DnsType::kA, DnsType::kAaaa, DnsType::kSrv, DnsType::kNaptr}) {
    (void)rtplatch::ParseDnsAnswer(type, data, size);
  }
  return 0;
}
