#include "control/guard/raw_response.h"

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "control/guard/raw_sip_head.h"

namespace rtplatch {
namespace {

// Printable ASCII, HTAB and UTF-8 bytes: nothing that could end a line or
// the message in what we echo.
bool CleanLine(absl::string_view line) {
  for (unsigned char c : line) {
    if (c < 0x20 && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return !line.empty();
}

// A header name, full or compact form, in any case.
bool NameIs(absl::string_view name, absl::string_view full, absl::string_view compact) {
  return absl::EqualsIgnoreCase(name, full) || (!compact.empty() && absl::EqualsIgnoreCase(name, compact));
}

// Which bytes belong to a character class, looked up in one step: these
// run per byte of each request refused (or challenged) under load.
struct ByteSet {
  std::array<bool, 256> in{};
  constexpr explicit ByteSet(std::string_view extra) {
    for (int c = 0; c < 256; ++c) {
      in[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    for (char c : extra) in[static_cast<unsigned char>(c)] = true;
  }
};
constexpr ByteSet kTokenChars("-.!%*_+`'~");
// RFC 3261 word, less what oSIP2 reads specially.
constexpr ByteSet kWordChars("-.!%*_+`'~()/:[]?{}@");
constexpr ByteSet kUserChars("-_.!~*'()%&=+$,?/");

bool TokenChar(unsigned char c) { return kTokenChars.in[c]; }

bool AllOf(absl::string_view s, bool (*ok)(unsigned char)) {
  for (unsigned char c : s) {
    if (!ok(c)) return false;
  }
  return !s.empty();
}

bool WordChar(unsigned char c) { return kWordChars.in[c]; }

// ;name[=value] parameters of token characters.
bool PlainParams(absl::string_view params) {
  while (!params.empty()) {
    if (params[0] != ';') return false;
    params.remove_prefix(1);
    const size_t end = params.find(';');
    const absl::string_view param = params.substr(0, end);
    params = end == absl::string_view::npos ? absl::string_view() : params.substr(end);
    const size_t eq = param.find('=');
    if (!AllOf(param.substr(0, eq), TokenChar)) return false;
    if (eq != absl::string_view::npos && !AllOf(param.substr(eq + 1), TokenChar)) return false;
  }
  return true;
}

bool HostnameLabelChar(unsigned char c) { return absl::ascii_isalnum(c) || c == '-'; }

// host[:port]: an IP address ([IPv6] in brackets) or a hostname of
// letters, digits and '-' in dot-separated labels; a port of 1-5 digits,
// 1 to 65535.
bool PlainSentBy(absl::string_view sent_by) {
  absl::string_view host = sent_by, port;
  if (absl::StartsWith(sent_by, "[")) {
    const size_t close = sent_by.find(']');
    if (close == absl::string_view::npos) return false;
    host = sent_by.substr(1, close - 1);
    if (!IpAddress::Parse(host).ok() || IpAddress::Parse(host)->is_v4()) return false;
    port = sent_by.substr(close + 1);
    if (!port.empty() && (!absl::ConsumePrefix(&port, ":") || port.empty())) return false;
  } else {
    const size_t colon = sent_by.find(':');
    host = sent_by.substr(0, colon);
    if (colon != absl::string_view::npos) port = sent_by.substr(colon + 1);
    if (colon != absl::string_view::npos && port.empty()) return false;
    if (!IpAddress::Parse(host).ok()) {
      // RFC 3261 hostname: labels of letters, digits and inner '-'; the
      // top label starts with a letter.
      absl::string_view last;
      for (absl::string_view label : absl::StrSplit(host, '.')) {
        if (!AllOf(label, HostnameLabelChar) || label.front() == '-' || label.back() == '-') {
          return false;
        }
        last = label;
      }
      if (!absl::ascii_isalpha(static_cast<unsigned char>(last.front()))) return false;
    }
  }
  if (port.empty()) return true;
  uint32_t n = 0;
  return port.size() <= 5 && absl::SimpleAtoi(port, &n) && AllOf(port, absl::ascii_isdigit) &&
         n >= 1 && n <= 65535;
}

// SIP/2.0/TRANSPORT host[:port];params
bool PlainVia(absl::string_view value) {
  if (!absl::ConsumePrefix(&value, "SIP/2.0/")) return false;
  const size_t sp = value.find(' ');
  if (sp == absl::string_view::npos || !AllOf(value.substr(0, sp), TokenChar)) return false;
  value = absl::StripLeadingAsciiWhitespace(value.substr(sp));
  const size_t semi = value.find(';');
  return PlainSentBy(value.substr(0, semi)) &&
         (semi == absl::string_view::npos || PlainParams(value.substr(semi)));
}

bool UserChar(unsigned char c) { return kUserChars.in[c]; }

// sip:[user@]host[:port][;params] or sips:..., no headers.
bool PlainSipUri(absl::string_view uri) {
  if (!absl::ConsumePrefix(&uri, "sip:") && !absl::ConsumePrefix(&uri, "sips:")) return false;
  const size_t semi = uri.find(';');
  absl::string_view target = uri.substr(0, semi);
  // oSIP2 cannot read back "sip:m": a one-character target (the fuzzer's
  // crash-cac988bf..., 2026-12-05).
  if (target.size() < 2) return false;
  if (const size_t at = target.find('@'); at != absl::string_view::npos) {
    if (!AllOf(target.substr(0, at), UserChar)) return false;
    target = target.substr(at + 1);
  }
  return PlainSentBy(target) && (semi == absl::string_view::npos || PlainParams(uri.substr(semi)));
}

// [display-name token] <sip:...>;params (the form phones send).
bool PlainNameAddr(absl::string_view value) {
  const size_t open = value.find('<');
  const size_t close = value.find('>');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    return false;
  }
  for (unsigned char c : value.substr(0, open)) {  // a display name: tokens and spaces
    if (!TokenChar(c) && c != ' ') return false;
  }
  return PlainSipUri(value.substr(open + 1, close - open - 1)) &&
         PlainParams(absl::StripAsciiWhitespace(value.substr(close + 1)));
}

// word[@word], as oSIP2 reads it: both sides present.
bool PlainCallId(absl::string_view id) {
  const size_t at = id.find('@');
  if (at == absl::string_view::npos) return AllOf(id, WordChar);
  const absl::string_view host = id.substr(at + 1);
  return AllOf(id.substr(0, at), WordChar) && AllOf(host, WordChar) &&
         host.find('@') == absl::string_view::npos;
}

// The lines a response echoes, as views into the request.
struct EchoLines {
  absl::string_view top_via;          // the first Via line
  std::vector<absl::string_view> vias;  // the others, in order
  absl::string_view from, to, call_id, cseq;
  absl::string_view to_value, cseq_value, call_id_value, from_value;
};

// Name and value of a header line; false if it is not "token: value".
bool SplitHeader(absl::string_view line, absl::string_view* name, absl::string_view* value) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  *name = absl::StripTrailingAsciiWhitespace(line.substr(0, colon));
  for (unsigned char c : *name) {
    if (!TokenChar(c)) return false;
  }
  *value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  return !name->empty();
}

// Sets `*slot` unless a second one comes (false then).
bool Once(absl::string_view* slot, absl::string_view line) {
  if (!slot->empty()) return false;
  *slot = line;
  return true;
}

bool ReadEchoLines(absl::string_view request, EchoLines* e) {
  const size_t head_end = request.find("\r\n\r\n");
  if (head_end == absl::string_view::npos) return false;
  absl::string_view head = request.substr(0, head_end);
  const size_t first_end = head.find("\r\n");
  if (first_end == absl::string_view::npos) return false;
  const absl::string_view start = head.substr(0, first_end);
  if (!CleanLine(start) || !absl::EndsWith(start, " SIP/2.0") || absl::StartsWith(start, "SIP/")) {
    return false;
  }
  for (absl::string_view rest = head.substr(first_end + 2); !rest.empty();) {
    const size_t end = rest.find("\r\n");
    const absl::string_view line = rest.substr(0, end);
    rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end + 2);
    absl::string_view name, value;
    if (!CleanLine(line) || line[0] == ' ' || line[0] == '\t' || !SplitHeader(line, &name, &value)) {
      return false;  // folded, empty inside the head, or not a header
    }
    bool ok = true;
    if (NameIs(name, "Via", "v")) {
      if (!PlainVia(value)) return false;
      if (e->top_via.empty()) {
        e->top_via = line;
      } else {
        e->vias.push_back(line);
      }
    } else if (NameIs(name, "From", "f")) {
      ok = Once(&e->from, line) && Once(&e->from_value, value);
    } else if (NameIs(name, "To", "t")) {
      ok = Once(&e->to, line) && Once(&e->to_value, value);
    } else if (NameIs(name, "Call-ID", "i")) {
      ok = Once(&e->call_id, line) && Once(&e->call_id_value, value);
    } else if (NameIs(name, "CSeq", "")) {
      ok = Once(&e->cseq, line) && Once(&e->cseq_value, value);
    }
    if (!ok) return false;
  }
  if (e->top_via.empty() || e->from.empty() || e->to.empty() || e->call_id.empty() ||
      e->cseq.empty()) {
    return false;
  }
  // CSeq: a number and the request's method.
  const absl::string_view method = start.substr(0, start.find(' '));
  const size_t sp = e->cseq_value.find(' ');
  if (sp == absl::string_view::npos || sp > 10) return false;
  for (unsigned char c : e->cseq_value.substr(0, sp)) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return absl::StripLeadingAsciiWhitespace(e->cseq_value.substr(sp)) == method &&
         AllOf(method, TokenChar) && PlainNameAddr(e->from_value) &&
         PlainNameAddr(e->to_value) && PlainCallId(e->call_id_value);
}

// The top Via with received= and rport= of the source; empty if it holds
// more than one value or already has either.
std::string StampedTopVia(absl::string_view line, const Endpoint& source) {
  if (absl::StrContains(line, ',') || absl::StrContains(line, '"')) return "";
  const std::string lower = absl::AsciiStrToLower(line);
  if (absl::StrContains(lower, ";received")) return "";
  std::string out(line);
  const size_t rport = lower.find(";rport");
  const std::string stamp = absl::StrCat(";rport=", source.port);
  if (rport == std::string::npos) {
    absl::StrAppend(&out, stamp);
  } else {
    const size_t after = rport + 6;
    const size_t next = lower.find_first_not_of(" \t", after);
    if (next != std::string::npos && lower[next] != ';') return "";  // rport=value, or garbage
    out.replace(rport, after - rport, stamp);
  }
  absl::StrAppend(&out, ";received=", source.ip.ToString());
  return out;
}

// The same tag for a retransmission of the request (FNV-1a 64 of what
// identifies it), in hex.
std::string ToTag(const EchoLines& e) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (absl::string_view s : {e.call_id_value, e.from_value, e.cseq_value, e.top_via}) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff;
    h *= 0x100000001b3ull;
  }
  return absl::StrCat(absl::Hex(h));
}

}  // namespace

std::optional<std::string> RawStatelessResponse(absl::string_view request, const Endpoint& source,
                                                int code, absl::string_view reason,
                                                absl::string_view server_header,
                                                absl::Span<const std::string> extra_headers) {
  EchoLines e;
  if (!ReadEchoLines(request, &e) || absl::StartsWith(request, "ACK ")) return std::nullopt;
  const std::string top_via = StampedTopVia(e.top_via, source);
  if (top_via.empty()) return std::nullopt;
  std::string out = absl::StrCat("SIP/2.0 ", code, " ", reason, "\r\n", top_via, "\r\n");
  for (absl::string_view via : e.vias) absl::StrAppend(&out, via, "\r\n");
  absl::StrAppend(&out, e.from, "\r\n", e.to);
  if (!ToValueHasTag(e.to_value)) absl::StrAppend(&out, ";tag=", ToTag(e));
  absl::StrAppend(&out, "\r\n", e.call_id, "\r\n", e.cseq, "\r\n");
  if (!server_header.empty()) absl::StrAppend(&out, "Server: ", server_header, "\r\n");
  for (const std::string& h : extra_headers) absl::StrAppend(&out, h, "\r\n");
  absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace rtplatch
