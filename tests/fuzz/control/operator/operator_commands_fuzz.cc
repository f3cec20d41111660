// The operator socket's commands (control/operator/operator_commands.h):
// each input line is one request, in order, against a view holding a few
// registrations, calls and peers (the control plane's own view needs its
// sockets; the parsing and argument checks fuzzed here are the same).
// Every reply must be one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "control/operator/operator_commands.h"
#include "tests/control/operator/view_slices.h"
#include "control/registrar/binding_store.h"
#include "nlohmann/json.hpp"

namespace rtplatch {
namespace {

using json = nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;

Binding MakeBinding(std::string aor, std::string contact, bool natted) {
  Binding b;
  b.aor = std::move(aor);
  b.contact_uri = std::move(contact);
  b.expires_at = kNow + 300;
  b.call_id = "cid-" + b.contact_uri;
  b.cseq = 7;
  b.user_agent = "Yealink SIP-T46S";
  b.source = *Endpoint::Parse(natted ? "203.0.113.40:31000" : "192.0.2.10:5060");
  b.local_socket = *Endpoint::Parse("203.0.113.10:5060");
  b.behind_nat = natted;
  if (natted) b.nat_reasons = {"via_inside"};
  return b;
}

class FixedView : public SlicedRegistrationsView {
 public:
  std::vector<Binding> Registrations(int64_t) const override {
    return {MakeBinding("alice@example.com", "sip:alice@192.0.2.10;ob", true),
            MakeBinding("alice@example.com", "sip:alice@198.51.100.2", false),
            MakeBinding("bob@example.com", "sips:bob@192.0.2.20", true)};
  }
  json Calls() const override {
    return json::array({{{"call_id", "a84b4c76e66710"}, {"state", "confirmed"},
                         {"caller", "alice@example.com"}, {"callee", "bob@example.com"},
                         {"legs", json::array()}, {"pairs", json::array({3})}},
                        {{"call_id", "b84b4c76e66711"}, {"state", "early"},
                         {"caller", "bob@example.com"}, {"callee", "alice@example.com"},
                         {"legs", json::array()}, {"pairs", json::array()}}});
  }
  json Stats() const override { return {{"requests", 42}, {"calls", 2}}; }
  json Peers() const override { return json::array({{{"name", "core"}}}); }
  int64_t Now() const override { return kNow; }
  absl::StatusOr<json> SetNgDraining(bool on) override {
    return json{{"draining", on}, {"calls", 2}};
  }
  absl::StatusOr<json> SetDraining(bool on) override {
    return json{{"draining", on}, {"calls", 3}};
  }
  absl::StatusOr<json> Reload() override { return json{{"users", 1}}; }
  json Bans() const override { return json::array({{{"source", "203.0.113.66"}}}); }
  absl::StatusOr<json> Unban(const IpAddress& source) override {
    return json{{"unbanned", source.ToString()}};
  }
};

}  // namespace
}  // namespace rtplatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtplatch::FixedView view;
  rtplatch::OperatorCommands commands(view);
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    bool subscribe = false;
    std::string reply = commands.Handle(line, &subscribe);
    if (reply.find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
