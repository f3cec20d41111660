#include "control/sip/sip_response.h"

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include <optional>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr size_t kMaxWarningText = 200;

std::optional<std::string> TaggedTo(const SipMessage& request) {
  const osip_message& m = request.osip();
  if (!request.to_tag().empty() || m.to == nullptr) return OsipToString(osip_to_to_str, m.to);
  osip_to_t* tagged = nullptr;
  if (osip_to_clone(m.to, &tagged) != OSIP_SUCCESS) return std::nullopt;
  osip_to_set_tag(tagged, osip_strdup(ResponseToTag(request).c_str()));
  auto to = OsipToString(osip_to_to_str, tagged);
  osip_to_free(tagged);
  return to;
}

}  // namespace

absl::StatusOr<std::string> BuildResponse(const SipMessage& request, int code,
                                          absl::string_view reason,
                                          absl::string_view server_header,
                                          const std::vector<std::string>& extra_headers) {
  const osip_message& m = request.osip();
  std::string out = absl::StrCat("SIP/2.0 ", code, " ", reason, "\r\n");
  if (const SipMessage::EchoLines* echo = request.echo_lines()) {
    // The lines as received; only the top Via (received/rport) and a To
    // tag are ours.
    auto top = OsipToString(osip_via_to_str,
                            static_cast<const osip_via_t*>(osip_list_get(&m.vias, 0)));
    if (!top) return absl::InvalidArgumentError("response: cannot serialise the top Via");
    absl::StrAppend(&out, "Via: ", *top, "\r\n", echo->before_to, echo->to);
    if (request.to_tag().empty()) absl::StrAppend(&out, ";tag=", ResponseToTag(request));
    absl::StrAppend(&out, "\r\n", echo->after_to);
    if (!server_header.empty()) absl::StrAppend(&out, "Server: ", server_header, "\r\n");
    for (const std::string& h : extra_headers) absl::StrAppend(&out, h, "\r\n");
    absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
    return out;
  }
  const int vias = osip_list_size(&m.vias);
  for (int i = 0; i < vias; ++i) {
    auto via = OsipToString(osip_via_to_str, static_cast<const osip_via_t*>(osip_list_get(&m.vias, i)));
    if (!via) return absl::InvalidArgumentError("response: cannot serialise a Via");
    absl::StrAppend(&out, "Via: ", *via, "\r\n");
  }
  auto from = OsipToString(osip_from_to_str, m.from);
  auto to = TaggedTo(request);
  auto call_id = OsipToString(osip_call_id_to_str, m.call_id);
  auto cseq = OsipToString(osip_cseq_to_str, m.cseq);
  if (!from || !to || !call_id || !cseq) {
    return absl::InvalidArgumentError("response: From, To, Call-ID or CSeq missing");
  }
  absl::StrAppend(&out, "From: ", *from, "\r\nTo: ", *to, "\r\nCall-ID: ", *call_id,
                  "\r\nCSeq: ", *cseq, "\r\n");
  if (!server_header.empty()) absl::StrAppend(&out, "Server: ", server_header, "\r\n");
  for (const std::string& h : extra_headers) absl::StrAppend(&out, h, "\r\n");
  absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
  return out;
}

std::string ResponseToTag(const SipMessage& m) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto feed = [&h](absl::string_view s) {
    for (char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ull;
    }
  };
  auto mix = [&h, &feed](absl::string_view s) {
    feed(s);
    h ^= 0xff;  // separator, so "ab"+"c" != "a"+"bc"
    h *= 0x100000001b3ull;
  };
  // Read from the parsed message in place (this runs for every response
  // the server itself answers); the Call-ID's bytes are those of
  // call_id(), "number@host".
  const osip_message& raw = m.osip();
  if (raw.call_id != nullptr) {
    feed(raw.call_id->number != nullptr ? raw.call_id->number : "");
    if (raw.call_id->host != nullptr) {
      feed("@");
      feed(raw.call_id->host);
    }
  }
  mix("");
  mix(m.from_tag());
  mix(m.top_via_param("branch").value_or(""));
  mix(absl::AlphaNum(m.cseq_number()).Piece());
  return absl::StrCat("rl", absl::Hex(h));
}

std::string WarningHeader(absl::string_view text) {
  std::string out = "Warning: 399 rtplatch \"";
  for (char ch : text.substr(0, kMaxWarningText)) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(c < 0x20 || c >= 0x7f ? '?' : ch);
  }
  out.push_back('"');
  return out;
}

SipReply SipReplyForError(const absl::Status& error) {
  if (absl::IsInvalidArgument(error)) {
    return {488, "Not Acceptable Here", {WarningHeader(error.message())}};
  }
  // Retry-After: a dataplane restart or a burst of calls passes in seconds.
  return {503, "Service Unavailable", {WarningHeader(error.message()), "Retry-After: 5"}};
}

}  // namespace rtplatch
