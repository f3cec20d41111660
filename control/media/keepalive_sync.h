// Keeps the dataplane's keepalive targets in step with the registrar's NAT'd
// bindings (design.md rule 5): one target per binding whose NAT decision
// asked for keepalives, from the SIP socket the binding registered on to
// the phone's public address:port, at the binding's (adaptive) interval.
// A binding whose NAT timeout is still being learned gets no target: the
// control plane's probes keep its mapping until the learner decides.
//
// The registrar's bindings are the truth; the dataplane holds a copy. A
// change that cannot reach the dataplane (it is down) is only counted: on
// every (re)connection ReinstallAll() removes every target this process
// family labelled and installs the live set again, so a dataplane restart,
// a control-plane restart (kill -9 included) and a missed update all end in
// the same state. With a million NAT'd phones the live set goes in slices
// (BeginReinstall, then InstallSlice a loop round), so SIP is served while
// it does and no copy of the whole set is ever held.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "common/ip_address.h"
#include "control/registrar/binding_store.h"
#include "control/media/dataplane_link.h"
#include "control/registrar/registrar.h"

namespace rtplatch {

struct KeepaliveSyncCounters {
  uint64_t installed = 0;
  uint64_t removed = 0;
  uint64_t updated = 0;
  uint64_t failures = 0;  // dataplane unreachable or refused; fixed on reconnect
  uint64_t reinstalls = 0;
  // NAT'd UDP bindings left without a target: their socket is a wildcard
  // and no advertised address of their family is configured.
  uint64_t skipped_no_source = 0;
};

class KeepaliveSync {
 public:
  // Labels of our targets start with this, so a restarted control plane
  // finds (and replaces) its predecessor's.
  static constexpr absl::string_view kLabelPrefix = "rc-ka:";
  // A reinstall, or bindings adopted from another node, cannot know how
  // long each mapping went without a keepalive (a dataplane restart, a VIP
  // taken over from a dead node): their first keepalives go within this
  // long, not anywhere in a 25 s interval that might outlast the NAT's
  // timeout.
  static constexpr uint32_t kReinstallFirstWithinMs = 2000;

  struct Options {
    std::string payload = "crlf";  // "crlf" (RFC 5626) or "zero4"
    // Source address when the binding's local socket is a wildcard
    // (0.0.0.0 / ::): the address phones send SIP to.
    std::optional<IpAddress> advertised_v4;
    std::optional<IpAddress> advertised_v6;
    // Whether keepalives may leave from a source address now (null: any):
    // in a cluster, a VIP only while this node holds its lease.
    std::function<bool(const IpAddress&)> may_send_from;
  };

  KeepaliveSync(DataplaneLink& link, Options options);

  // `first_within_ms`: new targets send their first keepalive within it
  // (0: anywhere in their first interval); kReinstallFirstWithinMs for
  // bindings taken over from another node.
  void Apply(const std::vector<BindingChange>& changes, uint32_t first_within_ms = 0);
  void Removed(const std::vector<Binding>& expired);
  // Replaces whatever the dataplane holds with `live`, all at once (a
  // small set; the proxy, after a (re)connection, takes the steps below).
  void ReinstallAll(const std::vector<Binding>& live);
  // ReinstallAll in steps: removes our targets and forgets their ids; true
  // when the dataplane took that (false: counted, the next reconnect
  // starts over). InstallSlice then installs a slice of the live set (at
  // most 100 000, one request), skipping bindings that have a target by
  // then (Apply installed it meanwhile); false when the dataplane refused
  // or went away.
  bool BeginReinstall();
  bool InstallSlice(absl::Span<const Binding> live);

  // The dataplane target id of a binding, if installed.
  std::optional<uint64_t> TargetOf(const Binding& b) const;
  size_t size() const { return ids_.size(); }
  const KeepaliveSyncCounters& counters() const { return counters_; }

 private:
  static std::string Key(const Binding& b) { return b.aor + "\n" + b.contact_uri; }
  std::optional<KeepaliveSpec> SpecFor(const Binding& b) const;
  void Install(const Binding& b, uint32_t first_within_ms = 0);
  void Remove(const Binding& b);

  DataplaneLink& link_;
  Options options_;
  absl::flat_hash_map<std::string, uint64_t> ids_;
  KeepaliveSyncCounters counters_;
};

}  // namespace rtplatch
