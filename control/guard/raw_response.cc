#include "control/guard/raw_response.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
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
  // No early exit and no branch: the loop vectorizes (a third of a
  // refusal's build, bytewise), and clean lines are the rule.
  const auto* p = reinterpret_cast<const uint8_t*>(line.data());
  uint8_t bad = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const uint8_t c = p[i];
    bad |= static_cast<uint8_t>((c < 0x20) & (c != '\t')) | static_cast<uint8_t>(c == 0x7f);
  }
  return bad == 0 && !line.empty();
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
    const std::optional<IpAddress> ip = IpAddress::TryParse(host);
    if (!ip || ip->is_v4()) return false;
    port = sent_by.substr(close + 1);
    if (!port.empty() && (!absl::ConsumePrefix(&port, ":") || port.empty())) return false;
  } else {
    const size_t colon = sent_by.find(':');
    host = sent_by.substr(0, colon);
    if (colon != absl::string_view::npos) port = sent_by.substr(colon + 1);
    if (colon != absl::string_view::npos && port.empty()) return false;
    if (!IpAddress::TryParse(host)) {
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

// Name and value of a (clean) header line; false if it is not "token:
// value". The name read in one scan: names are short, a search is not.
bool SplitHeader(absl::string_view line, absl::string_view* name, absl::string_view* value) {
  size_t i = 0;
  while (i < line.size() && TokenChar(static_cast<unsigned char>(line[i]))) ++i;
  *name = line.substr(0, i);
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i == line.size() || line[i] != ':') return false;
  *value = absl::StripAsciiWhitespace(line.substr(i + 1));
  return !name->empty();
}

// Sets `*slot` unless a second one comes (false then).
bool Once(absl::string_view* slot, absl::string_view line) {
  if (!slot->empty()) return false;
  *slot = line;
  return true;
}

// The next line of `*rest` without its CRLF, taken off `*rest`; false if
// no CRLF ends one (a bare LF included).
bool NextLine(absl::string_view* rest, absl::string_view* line) {
  if (rest->empty()) return false;
  const void* lf = std::memchr(rest->data(), '\n', rest->size());
  if (lf == nullptr) return false;
  const size_t end = static_cast<size_t>(static_cast<const char*>(lf) - rest->data());
  if (end == 0 || (*rest)[end - 1] != '\r') return false;
  *line = rest->substr(0, end - 1);
  rest->remove_prefix(end + 1);
  return true;
}

// One pass over the head, line by line, up to the empty line that ends it.
bool ReadEchoLines(absl::string_view request, EchoLines* e) {
  absl::string_view rest = request, start;
  if (!NextLine(&rest, &start) || !CleanLine(start) || !absl::EndsWith(start, " SIP/2.0") ||
      absl::StartsWith(start, "SIP/")) {
    return false;
  }
  for (absl::string_view line;;) {
    if (!NextLine(&rest, &line)) return false;  // the head never ends
    if (line.empty()) break;
    absl::string_view name, value;
    if (!CleanLine(line) || line[0] == ' ' || line[0] == '\t' || !SplitHeader(line, &name, &value)) {
      return false;  // folded, empty inside the head, or not a header
    }
    bool ok = true;
    if (HeaderNameIs(name, "Via", "v")) {
      if (!PlainVia(value)) return false;
      if (e->top_via.empty()) {
        e->top_via = line;
      } else {
        e->vias.push_back(line);
      }
    } else if (HeaderNameIs(name, "From", "f")) {
      ok = Once(&e->from, line) && Once(&e->from_value, value);
    } else if (HeaderNameIs(name, "To", "t")) {
      ok = Once(&e->to, line) && Once(&e->to_value, value);
    } else if (HeaderNameIs(name, "Call-ID", "i")) {
      ok = Once(&e->call_id, line) && Once(&e->call_id_value, value);
    } else if (HeaderNameIs(name, "CSeq", "")) {
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

// Where `prefix` (lower case, from its ';') first starts in `line`, in any
// case; npos if nowhere.
size_t FindIgnoreCase(absl::string_view line, absl::string_view prefix) {
  for (size_t i = line.find(';'); i != absl::string_view::npos; i = line.find(';', i + 1)) {
    if (absl::StartsWithIgnoreCase(line.substr(i), prefix)) return i;
  }
  return absl::string_view::npos;
}

// Appends the top Via with received= and rport= of the source; false if
// it holds more than one value or already has either.
bool AppendStampedTopVia(absl::string_view line, const Endpoint& source, std::string* out) {
  if (absl::StrContains(line, ',') || absl::StrContains(line, '"')) return false;
  if (FindIgnoreCase(line, ";received") != absl::string_view::npos) return false;
  const size_t rport = FindIgnoreCase(line, ";rport");
  if (rport == absl::string_view::npos) {
    absl::StrAppend(out, line, ";rport=", source.port);
  } else {
    const size_t after = rport + 6;
    size_t next = after;
    while (next < line.size() && (line[next] == ' ' || line[next] == '\t')) ++next;
    if (next < line.size() && line[next] != ';') return false;  // rport=value, or garbage
    absl::StrAppend(out, line.substr(0, rport), ";rport=", source.port, line.substr(after));
  }
  absl::StrAppend(out, ";received=", source.ip.ToString());
  return true;
}

// The same tag for a retransmission of the request: FNV-1a 64 over what
// identifies it, taken eight bytes a step (a byte a step cost a tenth of
// a refusal under a storm), shown in hex.
uint64_t ToTag(const EchoLines& e) {
  constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t h = 0xcbf29ce484222325ull;
  for (absl::string_view s : {e.call_id_value, e.from_value, e.cseq_value, e.top_via}) {
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      h = (h ^ word) * kPrime;
      h ^= h >> 29;  // word steps need the high bits mixed down
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail ^ (uint64_t{s.size()} << 56)) * kPrime;
    h ^= h >> 29;
  }
  return h;
}

}  // namespace

std::optional<std::string> RawStatelessResponse(absl::string_view request, const Endpoint& source,
                                                int code, absl::string_view reason,
                                                absl::string_view server_header,
                                                absl::Span<const std::string> extra_headers) {
  EchoLines e;
  if (!ReadEchoLines(request, &e) || absl::StartsWith(request, "ACK ")) return std::nullopt;
  std::string out;
  // One allocation: the echoed lines, what this adds, and a margin.
  out.reserve(request.size() + reason.size() + server_header.size() + 160 +
              extra_headers.size() * 64);
  absl::StrAppend(&out, "SIP/2.0 ", code, " ", reason, "\r\n");
  if (!AppendStampedTopVia(e.top_via, source, &out)) return std::nullopt;
  out.append("\r\n");
  for (absl::string_view via : e.vias) absl::StrAppend(&out, via, "\r\n");
  absl::StrAppend(&out, e.from, "\r\n", e.to);
  if (!ToValueHasTag(e.to_value)) absl::StrAppend(&out, ";tag=", absl::Hex(ToTag(e)));
  absl::StrAppend(&out, "\r\n", e.call_id, "\r\n", e.cseq, "\r\n");
  if (!server_header.empty()) absl::StrAppend(&out, "Server: ", server_header, "\r\n");
  for (const std::string& h : extra_headers) absl::StrAppend(&out, h, "\r\n");
  absl::StrAppend(&out, "Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace rtplatch
