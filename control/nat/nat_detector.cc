#include "control/nat/nat_detector.h"

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

// An address the phone declares: inside (and not the source IP itself)?
bool InsideButNotSource(const IpAddress& a, const Endpoint& source,
                        const InsidePrefixes& inside) {
  return !(a == source.ip) && inside.Contains(a);
}

}  // namespace

std::optional<NatReason> ParseNatReason(absl::string_view name) {
  for (size_t i = 0; i < kNatReasonCount; ++i) {
    if (kNatReasonNames[i] == name) return static_cast<NatReason>(i);
  }
  return std::nullopt;
}

std::vector<absl::string_view> NatReasonSet::Names() const {
  std::vector<absl::string_view> out;
  for (size_t i = 0; i < kNatReasonCount; ++i) {
    if (Has(static_cast<NatReason>(i))) out.push_back(kNatReasonNames[i]);
  }
  return out;
}

std::string NatReasonSet::ToString() const { return absl::StrJoin(Names(), ","); }

std::vector<IpAddress> SdpAddresses::ConnectionAddresses() const {
  std::vector<IpAddress> out;
  auto add = [&](const std::optional<IpAddress>& a) {
    if (a && !a->is_unspecified() && std::find(out.begin(), out.end(), *a) == out.end()) {
      out.push_back(*a);
    }
  };
  add(session_connection);
  for (const SdpMedia& m : media) add(m.connection);
  return out;
}

absl::StatusOr<SdpAddresses> ParseSdpAddresses(absl::string_view body) {
  absl::StatusOr<SdpSession> session = ParseSdp(body);
  if (!session.ok()) return session.status();
  if (session->media.empty() && !session->origin_address && !session->session_connection) {
    // Nothing to compare with the source: not an SDP a phone would send.
    return absl::InvalidArgumentError("SDP: no o=, c= or m= line");
  }
  SdpAddresses out;
  out.origin = session->origin_address;
  out.session_connection = session->session_connection;
  for (const SdpMediaDescription& d : session->media) {
    out.media.push_back(SdpMedia{d.media, d.port, d.connection});
  }
  return out;
}

NatVerdict DetectNat(const SipMessage& message, const Endpoint& source,
                     const InsidePrefixes& inside, const SdpAddresses* sdp) {
  NatReasonSet r;

  // The top Via of a response is the proxy's own: nothing to learn there.
  if (message.is_request() && message.via_count() > 0) {
    const SipVia via = message.top_via();
    auto sent_by = IpAddress::Parse(via.host);
    if (!sent_by.ok() || !(*sent_by == source.ip)) {
      r.Add(NatReason::kViaHostDiffersFromSource);
    }
    if (sent_by.ok() && InsideButNotSource(*sent_by, source, inside)) {
      r.Add(NatReason::kViaInside);
    }
    if (via.is_datagram() && via.port != source.port) {
      r.Add(NatReason::kViaPortDiffersFromSource);
    }
    if (via.has_rport) r.Add(NatReason::kViaRportRequested);
  }

  for (const SipContact& c : message.contacts()) {
    if (c.star) continue;
    auto host = IpAddress::Parse(c.host);
    if (!host.ok() || !(*host == source.ip) || c.port != source.port) {
      r.Add(NatReason::kContactDiffersFromSource);
    }
    if (host.ok() && InsideButNotSource(*host, source, inside)) {
      r.Add(NatReason::kContactInside);
    }
  }

  if (sdp != nullptr) {
    for (const IpAddress& c : sdp->ConnectionAddresses()) {
      if (c == source.ip) continue;
      r.Add(inside.Contains(c) ? NatReason::kSdpInside
                               : NatReason::kSdpDiffersFromSource);
    }
    if (sdp->origin && !sdp->origin->is_unspecified() &&
        InsideButNotSource(*sdp->origin, source, inside)) {
      r.Add(NatReason::kSdpOriginInside);
    }
  }

  return NatVerdict{r.Intersects(NatReasonSet::Evidence()), r};
}

NatVerdict DetectNat(const SipMessage& message, const Endpoint& source,
                     const InsidePrefixes& inside) {
  if (message.has_sdp_body()) {
    if (auto sdp = ParseSdpAddresses(message.body()); sdp.ok()) {
      return DetectNat(message, source, inside, &*sdp);
    }
  }
  return DetectNat(message, source, inside, nullptr);
}

}  // namespace rtplatch
