// A DnsQuerier for tests: answers from a table, after the asker returns (as
// the resolver does) when the test calls Run(); a name and type not in
// the table is a negative answer, names in `failing` fail as a time-out.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/dns/dns_resolver.h"

namespace rtplatch::testing {

class TableDns : public DnsQuerier {
 public:
  void Query(const std::string& name, DnsType type, Callback done) override {
    asked.push_back(absl::StrCat(DnsTypeName(type), " ", name));
    pending_.emplace_back(std::move(done), Answer(name, type));
  }
  // Runs what is due, and what that asks for, until nothing is left.
  void Run() {
    while (!pending_.empty()) {
      auto batch = std::move(pending_);
      pending_.clear();
      for (auto& [done, result] : batch) done(result);
    }
  }

  std::map<std::pair<std::string, DnsType>, DnsRecords> table;
  std::vector<std::string> failing;
  std::vector<std::string> asked;  // "SRV _sip._udp.example.net", in order

 private:
  absl::StatusOr<DnsRecords> Answer(const std::string& name, DnsType type) const {
    if (std::find(failing.begin(), failing.end(), name) != failing.end()) {
      return absl::UnavailableError("DNS query: Timeout while contacting DNS servers");
    }
    if (auto it = table.find({name, type}); it != table.end()) return it->second;
    DnsRecords negative;
    negative.negative = true;
    negative.ttl_s = 30;
    return negative;
  }
  std::vector<std::pair<Callback, absl::StatusOr<DnsRecords>>> pending_;
};

}  // namespace rtplatch::testing
