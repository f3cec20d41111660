#include "control/sdp/sdp.h"

#include <initializer_list>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

using Direction = SdpMediaDescription::Direction;

// How much of a bad line an error message quotes.
constexpr size_t kQuotedLineChars = 48;

// One line of the body, as views into it.
struct Line {
  absl::string_view text;    // without its ending
  absl::string_view ending;  // "\r\n", "\n", or "" (last line, unterminated)
};

// A c= line, session or media level.
struct ConnectionLine {
  size_t line = 0;
  std::optional<IpAddress> address;  // nullopt: FQDN or non-IN nettype
  bool hold = false;                 // 0.0.0.0 or ::
  bool ipv6 = false;                 // addrtype IP6
};

// An a=rtcp line (RFC 3605).
struct RtcpLine {
  size_t line = 0;
  absl::string_view port;  // the port digits, a view into the line
  bool long_form = false;  // "a=rtcp:PORT IN IP4 ADDR"
  bool hold = false;       // its address is 0.0.0.0 or ::
};

// Where one m= section's fields sit in the text.
struct MediaLayout {
  size_t m_line = 0;
  absl::string_view port;   // the m= port digits, a view into the m= line
  absl::string_view proto;  // the m= proto, a view into the m= line
  size_t c_anchor = 0;     // an added c= goes after this line: m= or an i=
  size_t last_line = 0;    // last non-empty line of the section
  std::vector<ConnectionLine> connections;
  std::vector<RtcpLine> rtcps;
  std::vector<size_t> rtcp_mux_lines;
};

struct OriginLayout {
  size_t line = 0;
  // Views into the o= line.
  absl::string_view username;
  absl::string_view version;
  absl::string_view addrtype;
  absl::string_view address;
};

// The parsed body plus where each field the rewriter edits sits. Views
// point into the body, so a Layout must not outlive it.
struct Layout {
  std::vector<Line> lines;
  std::optional<OriginLayout> origin;
  std::vector<ConnectionLine> session_connections;
  std::vector<MediaLayout> media;
  std::vector<size_t> ice_lines;  // session and media level
  std::optional<size_t> session_name_line;
  SdpSession session;
};

absl::Status LineError(size_t index, absl::string_view text,
                       absl::string_view what) {
  const bool cut = text.size() > kQuotedLineChars;
  return absl::InvalidArgumentError(absl::StrCat(
      "SDP: line ", index + 1, " '", absl::CEscape(text.substr(0, kQuotedLineChars)),
      cut ? "..." : "", "': ", what));
}

std::vector<absl::string_view> Fields(absl::string_view s) {
  return absl::StrSplit(s, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool ParsePort(absl::string_view s, uint16_t* port) {
  uint32_t value = 0;
  if (!AllDigits(s) || s.size() > 5 || !absl::SimpleAtoi(s, &value) ||
      value > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

// o= numbers: RFC 4566 says decimal; anything else (or > 2^64) reads as 0,
// since the rewriter replaces sess-version anyway.
uint64_t ParseOriginNumber(absl::string_view s) {
  uint64_t value = 0;
  if (!AllDigits(s) || !absl::SimpleAtoi(s, &value)) return 0;
  return value;
}

// A name rather than a mangled IP literal: it has a letter in it.
bool IsHostName(absl::string_view s) {
  bool letter = false;
  for (char c : s) {
    if (absl::ascii_isalpha(static_cast<unsigned char>(c))) {
      letter = true;
    } else if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-' &&
               c != '.') {
      return false;
    }
  }
  return letter;
}

// A c= / a=rtcp / o= address of `addrtype`: an IP literal, or nullopt for
// an FQDN or an addrtype we do not know. A malformed literal is an error.
absl::StatusOr<std::optional<IpAddress>> ParseAddress(absl::string_view addrtype,
                                                      absl::string_view text) {
  text = text.substr(0, text.find('/'));  // multicast "/ttl/count"
  if (addrtype != "IP4" && addrtype != "IP6") return std::nullopt;
  if (IsHostName(text)) return std::nullopt;
  const bool colon = text.find(':') != absl::string_view::npos;
  auto ip = IpAddress::Parse(text);
  if (!ip.ok() || colon != (addrtype == "IP6")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CEscape(text.substr(0, kQuotedLineChars)),
                     "' is not an ", addrtype, " address"));
  }
  return std::optional<IpAddress>(*ip);
}

absl::string_view AddrType(const IpAddress& ip) { return ip.is_v4() ? "IP4" : "IP6"; }

std::string ConnectionText(const IpAddress& ip) {
  return absl::StrCat("c=IN ", AddrType(ip), " ", ip.ToString());
}

// `line` with each field (a view into it, in order) replaced.
std::string Splice(
    absl::string_view line,
    std::initializer_list<std::pair<absl::string_view, std::string>> edits) {
  std::string out;
  size_t at = 0;
  for (const auto& [field, text] : edits) {
    const size_t begin = static_cast<size_t>(field.data() - line.data());
    absl::StrAppend(&out, line.substr(at, begin - at), text);
    at = begin + field.size();
  }
  absl::StrAppend(&out, line.substr(at));
  return out;
}

std::vector<Line> SplitLines(absl::string_view body) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t nl = body.find('\n', pos);
    if (nl == absl::string_view::npos) {
      lines.push_back({body.substr(pos), absl::string_view()});
      break;
    }
    Line line{body.substr(pos, nl - pos), body.substr(nl, 1)};
    if (!line.text.empty() && line.text.back() == '\r') {
      line.text.remove_suffix(1);
      line.ending = body.substr(nl - 1, 2);
    }
    lines.push_back(line);
    pos = nl + 1;
  }
  return lines;
}

absl::StatusOr<ConnectionLine> ParseConnection(size_t index, absl::string_view text) {
  const std::vector<absl::string_view> f = Fields(text.substr(2));
  if (f.size() < 3) {
    return LineError(index, text, "c= needs <nettype> <addrtype> <address>");
  }
  ConnectionLine c;
  c.line = index;
  c.ipv6 = f[1] == "IP6";
  if (f[0] != "IN") return c;
  auto address = ParseAddress(f[1], f[2]);
  if (!address.ok()) return LineError(index, text, address.status().message());
  c.address = *address;
  c.hold = c.address.has_value() && c.address->is_unspecified();
  return c;
}

absl::Status ParseOrigin(size_t index, absl::string_view text, Layout* out) {
  const absl::string_view value = text.substr(2);
  const std::vector<absl::string_view> f = Fields(value);
  if (f.size() < 6) {
    return LineError(index, text,
                     "o= needs <username> <sess-id> <sess-version> <nettype> "
                     "<addrtype> <address>");
  }
  // Counted from the end: a few phones put spaces in the username.
  const size_t n = f.size();
  SdpSession& s = out->session;
  const absl::string_view username = absl::StripTrailingAsciiWhitespace(
      value.substr(0, static_cast<size_t>(f[n - 5].data() - value.data())));
  s.origin_username = std::string(username);
  s.session_id = ParseOriginNumber(f[n - 5]);
  s.version = ParseOriginNumber(f[n - 4]);
  if (f[n - 3] == "IN") {
    // Informational only (nothing is sent there): a bad literal is not an
    // error.
    if (auto address = ParseAddress(f[n - 2], f[n - 1]); address.ok()) {
      s.origin_address = *address;
    }
  }
  out->origin = OriginLayout{index, username, f[n - 4], f[n - 2], f[n - 1]};
  return absl::OkStatus();
}

absl::Status ParseMediaLine(size_t index, absl::string_view text, Layout* out,
                            Direction session_direction) {
  if (out->media.size() >= kMaxSdpMediaLines) {
    return LineError(index, text,
                     absl::StrCat("more than ", kMaxSdpMediaLines, " m= lines"));
  }
  const std::vector<absl::string_view> f = Fields(text.substr(2));
  if (f.size() < 3) {
    return LineError(index, text, "m= needs <media> <port> <proto> <fmt>...");
  }
  const size_t slash = f[1].find('/');
  const absl::string_view port = f[1].substr(0, slash);
  SdpMediaDescription d;
  if (!ParsePort(port, &d.port)) {
    return LineError(index, text, "port is not a number in 0..65535");
  }
  if (slash != absl::string_view::npos) {
    uint16_t count = 0;
    if (!ParsePort(f[1].substr(slash + 1), &count) || count == 0) {
      return LineError(index, text, "bad port count");
    }
  }
  d.media = std::string(f[0]);
  d.proto = std::string(f[2]);
  d.direction = session_direction;
  out->session.media.push_back(std::move(d));
  MediaLayout m;
  m.m_line = m.c_anchor = m.last_line = index;
  m.port = port;
  m.proto = f[2];
  out->media.push_back(std::move(m));
  return absl::OkStatus();
}

std::optional<Direction> DirectionOf(absl::string_view attribute) {
  if (attribute == "sendrecv") return Direction::kSendRecv;
  if (attribute == "sendonly") return Direction::kSendOnly;
  if (attribute == "recvonly") return Direction::kRecvOnly;
  if (attribute == "inactive") return Direction::kInactive;
  return std::nullopt;
}

// a=rtcp:PORT [IN IP4|IP6 ADDR], media level.
absl::Status ParseRtcp(size_t index, absl::string_view text, absl::string_view arg,
                       SdpMediaDescription* d, MediaLayout* m) {
  const std::vector<absl::string_view> f = Fields(arg);
  if (f.empty() || (f.size() > 1 && f.size() < 4)) {
    return LineError(index, text, "a=rtcp needs <port> [IN IP4|IP6 <address>]");
  }
  uint16_t port = 0;
  if (!ParsePort(f[0], &port)) {
    return LineError(index, text, "port is not a number in 0..65535");
  }
  RtcpLine r;
  r.line = index;
  r.port = f[0];
  r.long_form = f.size() >= 4;
  std::optional<IpAddress> address;
  if (r.long_form && f[1] == "IN") {
    auto parsed = ParseAddress(f[2], f[3]);
    if (!parsed.ok()) return LineError(index, text, parsed.status().message());
    address = *parsed;
    r.hold = address.has_value() && address->is_unspecified();
  }
  if (m->rtcps.empty()) {
    d->rtcp_port = port;
    d->rtcp_address = address;
  }
  m->rtcps.push_back(r);
  return absl::OkStatus();
}

bool IsIceAttribute(absl::string_view name) {
  return absl::StartsWith(name, "ice-") || name == "candidate" ||
         name == "remote-candidates" || name == "end-of-candidates";
}

// a=sendrecv/sendonly/recvonly/inactive (session or media level),
// a=rtcp-mux and a=rtcp (media level), where ICE attributes sit; other
// attributes are kept as text.
absl::Status ParseAttribute(size_t i, absl::string_view text, SdpMediaDescription* d,
                            MediaLayout* m, Direction& session_direction, Layout* out) {
  const absl::string_view value = text.substr(2);
  const size_t colon = value.find(':');
  const absl::string_view name = value.substr(0, colon);
  const absl::string_view arg =
      colon == absl::string_view::npos ? absl::string_view() : value.substr(colon + 1);
  if (std::optional<Direction> dir = DirectionOf(name)) {
    (d == nullptr ? session_direction : d->direction) = *dir;
  } else if (IsIceAttribute(name)) {
    out->ice_lines.push_back(i);
  } else if (d != nullptr && name == "rtcp-mux") {
    d->rtcp_mux = true;
    m->rtcp_mux_lines.push_back(i);
  } else if (d != nullptr && name == "rtcp") {
    return ParseRtcp(i, text, arg, d, m);
  }
  return absl::OkStatus();
}

// Each m= line's effective c=: its own first one, else the session's.
void ResolveConnections(Layout& out) {
  for (size_t i = 0; i < out.media.size(); ++i) {
    const MediaLayout& m = out.media[i];
    const ConnectionLine* c = !m.connections.empty()             ? &m.connections.front()
                              : !out.session_connections.empty() ? &out.session_connections.front()
                                                                 : nullptr;
    if (c == nullptr) continue;
    SdpMediaDescription& d = out.session.media[i];
    d.connection = c->address;
    d.connection_is_hold = c->hold;
    d.ipv6 = c->ipv6;
  }
  if (!out.session_connections.empty()) {
    out.session.session_connection = out.session_connections.front().address;
  }
}

absl::StatusOr<Layout> ParseLayout(absl::string_view body) {
  if (body.size() > kMaxSdpBodyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SDP: body of ", body.size(), " bytes is over the ", kMaxSdpBodyBytes,
        "-byte limit"));
  }
  if (absl::StripAsciiWhitespace(body).empty()) {
    return absl::InvalidArgumentError("SDP: empty body");
  }
  if (const size_t nul = body.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("SDP: NUL byte at offset ", nul));
  }

  Layout out;
  out.lines = SplitLines(body);
  bool seen_version = false;
  bool in_media_header = false;  // only m= and i= lines since the last m=
  Direction session_direction = Direction::kSendRecv;
  for (size_t i = 0; i < out.lines.size(); ++i) {
    const absl::string_view text = out.lines[i].text;
    // Blank lines are not SDP, but some stacks add a trailing one.
    if (text.empty()) continue;
    if (text.find('\r') != absl::string_view::npos) {
      return LineError(i, text, "bare CR inside a line");
    }
    if (text.size() < 2 || text[1] != '=' ||
        !absl::ascii_isalpha(static_cast<unsigned char>(text[0]))) {
      return LineError(i, text, "not a <type>=<value> line");
    }
    const char type = text[0];
    if (!seen_version) {
      if (type != 'v') return LineError(i, text, "SDP must start with v=");
      seen_version = true;
      continue;
    }
    MediaLayout* m = out.media.empty() ? nullptr : &out.media.back();
    SdpMediaDescription* d = out.media.empty() ? nullptr : &out.session.media.back();
    if (m != nullptr) m->last_line = i;
    if (type != 'm' && type != 'i') in_media_header = false;

    switch (type) {
      case 'o':
        if (m == nullptr && !out.origin) {
          if (absl::Status s = ParseOrigin(i, text, &out); !s.ok()) return s;
        }
        break;
      case 'c': {
        auto c = ParseConnection(i, text);
        if (!c.ok()) return c.status();
        (m == nullptr ? out.session_connections : m->connections).push_back(*c);
        break;
      }
      case 'm':
        if (absl::Status s = ParseMediaLine(i, text, &out, session_direction); !s.ok()) {
          return s;
        }
        in_media_header = true;
        break;
      case 'i':
        if (m != nullptr && in_media_header) m->c_anchor = i;
        break;
      case 'a':
        if (absl::Status s = ParseAttribute(i, text, d, m, session_direction, &out); !s.ok()) {
          return s;
        }
        break;
      case 's':
        if (m == nullptr && !out.session_name_line) out.session_name_line = i;
        break;
      default:
        break;  // t=, b=, k=, z=, r=, e=, p=, u=, unknown: kept as they are
    }
  }
  if (!seen_version) return absl::InvalidArgumentError("SDP: no v= line");

  ResolveConnections(out);
  return out;
}

// The leg a stream is relayed on, or nullptr if it stays untouched.
const RelayLeg* RelayedOn(const SdpMediaDescription& media,
                          const std::optional<RelayLeg>& leg) {
  if (media.port == 0 || !leg.has_value() || leg->rtp_port == 0) return nullptr;
  return &*leg;
}

// Each m= line's relay leg (nullptr: untouched), checked against the body.
absl::StatusOr<std::vector<const RelayLeg*>> LegsFor(
    const std::vector<SdpMediaDescription>& media, const SdpRewrite& rewrite) {
  if (rewrite.media.size() != media.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SDP: ", rewrite.media.size(), " relay legs for ",
                     media.size(), " m= lines"));
  }
  std::vector<const RelayLeg*> legs(media.size());
  for (size_t i = 0; i < media.size(); ++i) {
    legs[i] = RelayedOn(media[i], rewrite.media[i]);
    if (legs[i] != nullptr &&
        (legs[i]->address.is_unspecified() || legs[i]->rtcp_port == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SDP: relay leg ", i, " (m=", media[i].media,
          ") has no address or no RTCP port"));
    }
  }
  return legs;
}

// The session-level address (c= and o=): the first relayed stream not on
// hold, else the first relayed one.
const RelayLeg* PrimaryLeg(const std::vector<SdpMediaDescription>& media,
                           const std::vector<const RelayLeg*>& legs) {
  for (size_t i = 0; i < media.size(); ++i) {
    if (legs[i] != nullptr && !media[i].connection_is_hold) return legs[i];
  }
  for (const RelayLeg* leg : legs) {
    if (leg != nullptr) return leg;
  }
  return nullptr;
}

// Per line of the body: its replacement (or removal), and lines to add
// after it.
struct LineEdits {
  explicit LineEdits(size_t lines) : replace(lines), remove(lines), insert_after(lines) {}
  std::vector<std::optional<std::string>> replace;
  std::vector<bool> remove;
  std::vector<std::vector<std::string>> insert_after;
};

// Whether the receiver of the rewritten SDP reads a=rtcp-mux in section i.
bool MuxOut(const SdpMediaDescription& media, const RelayLeg& leg) {
  switch (leg.rtcp_mux) {
    case RelayLeg::RtcpMux::kAdd: return true;
    case RelayLeg::RtcpMux::kRemove: return false;
    case RelayLeg::RtcpMux::kKeep: break;
  }
  return media.rtcp_mux;
}

// a=rtcp and a=rtcp-mux of a relayed section.
void EditRtcp(const Layout& layout, size_t i, const RelayLeg& leg, bool hold_replaced,
              LineEdits& edits) {
  const MediaLayout& m = layout.media[i];
  // A zero a=rtcp address is a hold only on a held stream; WebRTC writes
  // "a=rtcp:9 IN IP4 0.0.0.0" as a placeholder on live ones.
  const bool held = layout.session.media[i].connection_is_hold && !hold_replaced;
  for (const RtcpLine& r : m.rtcps) {
    const absl::string_view line = layout.lines[r.line].text;
    if (!r.long_form || (r.hold && held)) {
      edits.replace[r.line] = Splice(line, {{r.port, absl::StrCat(leg.rtcp_port)}});
    } else {
      edits.replace[r.line] = absl::StrCat("a=rtcp:", leg.rtcp_port, " IN ",
                                           AddrType(leg.address), " ", leg.address.ToString());
    }
  }
  const bool mux = MuxOut(layout.session.media[i], leg);
  if (leg.rtcp_mux == RelayLeg::RtcpMux::kRemove) {
    for (size_t line : m.rtcp_mux_lines) edits.remove[line] = true;
  } else if (mux && m.rtcp_mux_lines.empty()) {
    edits.insert_after[m.last_line].push_back("a=rtcp-mux");
  }
  if (m.rtcps.empty() && !mux && uint32_t{leg.rtcp_port} != uint32_t{leg.rtp_port} + 1) {
    edits.insert_after[m.last_line].push_back(absl::StrCat("a=rtcp:", leg.rtcp_port));
  }
}

// The relay as the stream's one ICE candidate per component (RFC 8839
// 5.1), with host-type priority (RFC 8445 5.1.2.1: type preference 126,
// local preference 65535).
void AddIceLines(const Layout& layout, size_t i, const RelayLeg& leg, LineEdits& edits) {
  std::vector<std::string>& out = edits.insert_after[layout.media[i].last_line];
  out.push_back(absl::StrCat("a=ice-ufrag:", leg.ice_ufrag));
  out.push_back(absl::StrCat("a=ice-pwd:", leg.ice_pwd));
  const bool mux = MuxOut(layout.session.media[i], leg) || leg.rtcp_port == leg.rtp_port;
  for (uint32_t component = 1; component <= (mux ? 1u : 2u); ++component) {
    const uint32_t priority = (126u << 24) | (65535u << 8) | (256u - component);
    out.push_back(absl::StrCat("a=candidate:1 ", component, " UDP ", priority, " ",
                               leg.address.ToString(), " ",
                               component == 1 ? leg.rtp_port : leg.rtcp_port, " typ host"));
  }
}

// m=, c=, a=rtcp and a=rtcp-mux of section `i` onto `leg`; an untouched
// section that inherited a rewritten session c= gets its own copy of the
// original.
void EditMediaSection(const Layout& layout, size_t i, const RelayLeg* leg,
                      const RelayLeg* primary, bool session_rewritten,
                      const SdpRewrite& rewrite, LineEdits& edits) {
  const MediaLayout& m = layout.media[i];
  const SdpMediaDescription& media = layout.session.media[i];
  const ConnectionLine* session_c =
      layout.session_connections.empty() ? nullptr : &layout.session_connections.front();
  if (leg == nullptr) {
    if (m.connections.empty() && media.port != 0 && session_rewritten) {
      edits.insert_after[m.c_anchor].emplace_back(layout.lines[session_c->line].text);
    }
    return;
  }
  const absl::string_view m_line = layout.lines[m.m_line].text;
  edits.replace[m.m_line] =
      rewrite.transport_protocol
          ? Splice(m_line, {{m.port, absl::StrCat(leg->rtp_port)},
                            {m.proto, *rewrite.transport_protocol}})
          : Splice(m_line, {{m.port, absl::StrCat(leg->rtp_port)}});
  const bool hold_replaced = rewrite.replace_hold_address;
  if (!m.connections.empty()) {
    for (const ConnectionLine& c : m.connections) {
      if (!c.hold || hold_replaced) edits.replace[c.line] = ConnectionText(leg->address);
    }
  } else if (session_c == nullptr ||
             (!(session_c->hold && !hold_replaced) &&
              !(session_rewritten && primary->address == leg->address))) {
    edits.insert_after[m.c_anchor].push_back(ConnectionText(leg->address));
  }
  EditRtcp(layout, i, *leg, hold_replaced, edits);
  if (!leg->ice_ufrag.empty()) AddIceLines(layout, i, *leg, edits);
}

// Whether the session-level c= is rewritten: always for the proxy; for
// rtpengine's default only when a relayed stream has no c= of its own.
bool RewritesSessionConnection(const Layout& layout, const std::vector<const RelayLeg*>& legs,
                               const SdpRewrite& rewrite) {
  if (rewrite.session_connection == SessionConnectionRewrite::kAlways) return true;
  for (size_t i = 0; i < legs.size(); ++i) {
    if (legs[i] != nullptr && layout.media[i].connections.empty()) return true;
  }
  return false;
}

// o=, s=, the session-level c= and ICE; returns whether that c= was
// rewritten.
bool EditSessionLines(const Layout& layout, const RelayLeg* primary,
                      const std::vector<const RelayLeg*>& legs, const SdpRewrite& rewrite,
                      LineEdits& edits) {
  if (const std::optional<OriginLayout>& o = layout.origin; o.has_value()) {
    const absl::string_view line = layout.lines[o->line].text;
    const std::string username = rewrite.origin_username.value_or(std::string(o->username));
    const std::string version = absl::StrCat(rewrite.origin_version);
    edits.replace[o->line] =
        primary == nullptr || !rewrite.replace_origin_address
            ? Splice(line, {{o->username, username}, {o->version, version}})
            : Splice(line, {{o->username, username},
                            {o->version, version},
                            {o->addrtype, std::string(AddrType(primary->address))},
                            {o->address, primary->address.ToString()}});
  }
  if (rewrite.session_name && layout.session_name_line) {
    edits.replace[*layout.session_name_line] = absl::StrCat("s=", *rewrite.session_name);
  }
  if (rewrite.remove_ice) {
    for (size_t line : layout.ice_lines) edits.remove[line] = true;
  }
  if (rewrite.ice_lite && !layout.media.empty() && layout.media[0].m_line > 0) {
    edits.insert_after[layout.media[0].m_line - 1].push_back("a=ice-lite");
  }
  if (primary == nullptr || !RewritesSessionConnection(layout, legs, rewrite)) return false;
  bool rewritten = false;
  for (const ConnectionLine& c : layout.session_connections) {
    if (c.hold && !rewrite.replace_hold_address) continue;
    edits.replace[c.line] = ConnectionText(primary->address);
    rewritten = true;
  }
  return rewritten;
}

// The body with `edits` applied. An inserted line takes the ending of the
// line before it; after an unterminated last line, the body's first ending
// (CRLF if it has none).
std::string Assemble(absl::string_view body, const Layout& layout, const LineEdits& edits) {
  absl::string_view body_ending = "\r\n";
  for (const Line& line : layout.lines) {
    if (!line.ending.empty()) {
      body_ending = line.ending;
      break;
    }
  }
  std::string out;
  out.reserve(body.size() + 128);
  for (size_t i = 0; i < layout.lines.size(); ++i) {
    const Line& line = layout.lines[i];
    const std::vector<std::string>& extra = edits.insert_after[i];
    const absl::string_view ending =
        line.ending.empty() && !extra.empty() ? body_ending : line.ending;
    if (!edits.remove[i]) {
      absl::StrAppend(&out, edits.replace[i].has_value() ? *edits.replace[i] : line.text);
      absl::StrAppend(&out, ending);
    } else if (line.ending.empty() && extra.empty() && absl::EndsWith(out, body_ending)) {
      // The removed line was the unterminated last one: so is its predecessor now.
      out.resize(out.size() - body_ending.size());
    }
    for (size_t j = 0; j < extra.size(); ++j) {
      absl::StrAppend(&out, extra[j]);
      if (j + 1 < extra.size() || !line.ending.empty()) absl::StrAppend(&out, ending);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<SdpSession> ParseSdp(absl::string_view body) {
  absl::StatusOr<Layout> layout = ParseLayout(body);
  if (!layout.ok()) return layout.status();
  return std::move(layout->session);
}

absl::StatusOr<std::string> RewriteSdp(absl::string_view body,
                                       const SdpRewrite& rewrite) {
  absl::StatusOr<Layout> parsed = ParseLayout(body);
  if (!parsed.ok()) return parsed.status();
  const Layout& layout = *parsed;
  absl::StatusOr<std::vector<const RelayLeg*>> legs = LegsFor(layout.session.media, rewrite);
  if (!legs.ok()) return legs.status();
  const RelayLeg* primary = PrimaryLeg(layout.session.media, *legs);

  LineEdits edits(layout.lines.size());
  const bool session_rewritten = EditSessionLines(layout, primary, *legs, rewrite, edits);
  for (size_t i = 0; i < layout.media.size(); ++i) {
    EditMediaSection(layout, i, (*legs)[i], primary, session_rewritten, rewrite, edits);
  }
  return Assemble(body, layout, edits);
}

}  // namespace rtplatch
