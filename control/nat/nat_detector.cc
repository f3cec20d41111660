#include "control/nat/nat_detector.h"

#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

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

// oSIP2's SDP parser appends to its lists by walking them (O(n^2) in the
// number of lines or payload types), so a hostile body is bounded first.
// Phones send a few dozen lines (WebRTC offers a couple of hundred) and at
// most a few dozen fields a line (m= payload lists, a=candidate).
constexpr size_t kMaxSdpLines = 512;
constexpr size_t kMaxSdpTokensPerLine = 64;

absl::Status CheckSdpBounds(absl::string_view body) {
  size_t lines = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (++lines > kMaxSdpLines) {
      return absl::InvalidArgumentError(
          absl::StrCat("SDP: more than ", kMaxSdpLines, " lines"));
    }
    if (static_cast<size_t>(std::count(line.begin(), line.end(), ' ')) >
        kMaxSdpTokensPerLine) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SDP: line '", absl::CEscape(line.substr(0, 16)), "...' has more than ",
          kMaxSdpTokensPerLine, " fields"));
    }
  }
  return absl::OkStatus();
}

struct SdpDeleter {
  void operator()(sdp_message_t* s) const { sdp_message_free(s); }
};

std::optional<IpAddress> IpOf(const char* text) {
  if (text == nullptr) return std::nullopt;
  auto ip = IpAddress::Parse(absl::StripAsciiWhitespace(text));
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

std::optional<IpAddress> ConnectionOf(const sdp_connection_t* c) {
  return c ? IpOf(c->c_addr) : std::nullopt;
}

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
  if (body.empty()) return absl::InvalidArgumentError("SDP: empty body");
  if (body.size() > kMaxSipMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("SDP: body of ", body.size(), " bytes is too large"));
  }
  if (const size_t nul = body.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("SDP: NUL byte at offset ", nul));
  }
  if (absl::Status s = CheckSdpBounds(body); !s.ok()) return s;
  // sdp_message_parse wants a C string whose every line ends in a newline.
  std::string text(body);
  if (text.back() != '\n') text += "\r\n";

  sdp_message_t* raw = nullptr;
  if (sdp_message_init(&raw) != OSIP_SUCCESS || raw == nullptr) {
    return absl::ResourceExhaustedError("SDP: out of memory");
  }
  std::unique_ptr<sdp_message_t, SdpDeleter> sdp(raw);
  if (const int rc = sdp_message_parse(sdp.get(), text.c_str()); rc != OSIP_SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("SDP: malformed (oSIP2 error ", rc, ")"));
  }

  SdpAddresses out;
  out.origin = IpOf(sdp->o_addr);
  out.session_connection = ConnectionOf(sdp->c_connection);
  // Iterator, not osip_list_get(i): that walks from the head every time.
  osip_list_iterator_t it;
  for (auto* m = static_cast<sdp_media_t*>(osip_list_get_first(&sdp->m_medias, &it));
       m != nullptr; m = static_cast<sdp_media_t*>(osip_list_get_next(&it))) {
    SdpMedia media;
    media.media = m->m_media ? m->m_media : "";
    uint32_t port = 0;
    if (m->m_port == nullptr || !absl::SimpleAtoi(m->m_port, &port) || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SDP: m=", media.media, " has a bad port '",
          absl::CEscape(m->m_port ? absl::string_view(m->m_port).substr(0, 16) : ""),
          "'"));
    }
    media.port = static_cast<uint16_t>(port);
    // Several media-level c= lines are legal (layered multicast); the first
    // one is what a unicast peer sends to.
    if (osip_list_size(&m->c_connections) > 0) {
      media.connection = ConnectionOf(
          static_cast<sdp_connection_t*>(osip_list_get(&m->c_connections, 0)));
    } else {
      media.connection = out.session_connection;
    }
    out.media.push_back(std::move(media));
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
