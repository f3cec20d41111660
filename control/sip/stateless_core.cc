#include "control/sip/stateless_core.h"

#include "control/sip/sip_response.h"

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

// RFC 3261 token characters (a method name).
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("-.!%*_+`'~").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The header lines a reply needs (Via, From, To, Call-ID, CSeq, with their
// continuation lines), taken from raw text oSIP2 refused, under a
// synthetic request line. Empty if there is no such line at all.
std::string SalvageReplyHeaders(absl::string_view bytes) {
  size_t head_end = bytes.find("\r\n\r\n");
  absl::string_view head = bytes.substr(0, head_end);
  std::string out;
  std::string method = "OPTIONS";  // the request line must agree with CSeq
  bool keep = false;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(head, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    if (first) {  // the start line
      first = false;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {  // folded continuation
      if (keep) absl::StrAppend(&out, line, "\r\n");
      continue;
    }
    size_t colon = line.find(':');
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    keep = colon != absl::string_view::npos &&
           (SipHeaderNameIs(name, "Via", "v") || SipHeaderNameIs(name, "From", "f") ||
            SipHeaderNameIs(name, "To", "t") || SipHeaderNameIs(name, "Call-ID", "i") ||
            SipHeaderNameIs(name, "CSeq", ""));
    if (keep) absl::StrAppend(&out, line, "\r\n");
    if (keep && SipHeaderNameIs(name, "CSeq", "")) {
      std::vector<absl::string_view> parts =
          absl::StrSplit(line.substr(colon + 1), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (parts.size() == 2 && IsToken(parts[1])) method = std::string(parts[1]);
    }
  }
  if (out.empty()) return out;
  return absl::StrCat(method, " sip:salvaged.invalid SIP/2.0\r\n", out,
                      "Content-Length: 0\r\n\r\n");
}

}  // namespace

std::optional<SipOutbound> StatelessCore::Drop(SipDropReason r) {
  ++counters_.dropped[static_cast<size_t>(r)];
  return std::nullopt;
}

bool StatelessCore::IsForUs(const SipMessage& request) const {
  const osip_uri_t* uri = request.osip().req_uri;
  if (uri == nullptr || uri->host == nullptr) return false;
  if (uri->username != nullptr && uri->username[0] != '\0') return false;  // for a user
  absl::string_view host = uri->host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto ip = IpAddress::Parse(host);
  if (!ip.ok()) return false;  // domain names: the registrar slice configures ours
  if (std::find(options_.local_addresses.begin(), options_.local_addresses.end(), *ip) ==
      options_.local_addresses.end()) {
    return false;
  }
  uint32_t port = kSipDefaultPort;
  if (uri->port != nullptr && !absl::SimpleAtoi(uri->port, &port)) return false;
  return std::find(options_.local_ports.begin(), options_.local_ports.end(), port) !=
         options_.local_ports.end();
}

std::optional<SipOutbound> StatelessCore::Reply(SipMessage& request, const SipInbound& in,
                                                int code, absl::string_view reason,
                                                const std::vector<std::string>& extra_headers) {
  // Always both parameters: the reply goes to the source whatever the
  // phone asked for, and this tells it what its NAT mapping is.
  if (!request.ApplyReceivedAndRport(in.source, /*force_rport=*/true).ok()) {
    return Drop(SipDropReason::kMissingHeaders);
  }
  auto out = BuildResponse(request, code, reason, options_.server_header, extra_headers);
  // Lines echoed from bad input (a bare CR inside a header, a To ending in
  // ';') can make a reply no parser reads, ours included: found by
  // fuzzing. Such a reply is not sent.
  if (!out.ok() || !SipMessage::Parse(*out).ok()) return Drop(SipDropReason::kBuildFailed);

  ++counters_.responded;
  if (code >= 200 && code < 300) ++counters_.responded_2xx;
  if (code >= 400 && code < 500) ++counters_.responded_4xx;
  if (code >= 500 && code < 600) ++counters_.responded_5xx;
  return SipOutbound{*std::move(out), in.source, in.transport, in.channel};
}

std::optional<SipMessage> StatelessCore::SalvagedRequest(const SipInbound& in) {
  if (absl::StartsWith(in.bytes, "SIP/")) {
    Drop(SipDropReason::kStrayResponse);
    return std::nullopt;
  }
  std::string salvaged = SalvageReplyHeaders(in.bytes);
  if (salvaged.empty()) {
    Drop(SipDropReason::kNotSip);
    return std::nullopt;
  }
  auto request = SipMessage::ParseLenient(salvaged);
  if (!request.ok() || !request->missing_mandatory_headers().empty()) {
    Drop(SipDropReason::kMissingHeaders);
    return std::nullopt;
  }
  if (request->cseq_method() == "ACK") {
    Drop(SipDropReason::kAck);
    return std::nullopt;
  }
  return *std::move(request);
}

std::optional<SipOutbound> StatelessCore::RefuseForOverload(const SipInbound& in,
                                                            uint32_t retry_after_s) {
  ++counters_.received;
  std::optional<SipMessage> request = SalvagedRequest(in);
  if (!request) return std::nullopt;
  return Reply(*request, in, 503, "Service Unavailable",
               {absl::StrCat("Retry-After: ", retry_after_s)});
}

std::optional<SipOutbound> StatelessCore::Handle(const SipInbound& in) {
  ++counters_.received;
  auto parsed = SipMessage::ParseLenient(in.bytes);
  if (!parsed.ok()) {
    // Malformed or truncated. A reply needs a request and the five
    // headers; salvage those lines and answer 400 with the reason.
    std::optional<SipMessage> request = SalvagedRequest(in);
    if (!request) return std::nullopt;
    std::string why(parsed.status().message());
    return Reply(*request, in, 400, "Bad Request",
                 {WarningHeader(why)});
  }
  SipMessage& request = *parsed;
  if (!request.is_request()) return Drop(SipDropReason::kStrayResponse);
  if (!request.missing_mandatory_headers().empty()) return Drop(SipDropReason::kMissingHeaders);
  const std::string method = request.method();
  if (method == "ACK") return Drop(SipDropReason::kAck);
  if (method == "OPTIONS" && IsForUs(request)) {
    return Reply(request, in, 200, "OK",
                 {absl::StrCat("Allow: ", kAllow), "Accept: application/sdp",
                  "Supported: "});
  }
  // NEXT SLICE: the registrar (REGISTER) and the proxy (INVITE, ACK, BYE,
  // CANCEL, OPTIONS for others) take these over, behind oSIP2 transactions.
  return Reply(request, in, 501, "Not Implemented",
               {WarningHeader(absl::StrCat(method, " is not implemented yet")),
                absl::StrCat("Allow: ", kAllow)});
}

}  // namespace rtplatch
