#include "control/sip/sip_message.h"

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

#include <algorithm>
#include <cstdarg>
#include <iterator>
#include <limits>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/sip/sip_response.h"
#include "control/sip/sip_serialize.h"

namespace rtplatch {
namespace {

// How much of an offending input an error message quotes.
constexpr size_t kQuoteBytes = 64;

// Bounds on what one message may make oSIP2 build. oSIP2 appends to its
// lists by walking them, so a header with n parameters costs O(n^2): one
// 64 KiB datagram of ";a;a;a..." costs about a second of CPU. Phones send
// 10-40 header lines with a dozen parameters or list items at most.
// Separators (';' ',' '&') count parameters and list items.
constexpr size_t kMaxHeaderLines = 256;
constexpr size_t kMaxSeparatorsPerHeader = 128;
constexpr size_t kMaxSeparators = 1024;  // in the whole header block

// Range over an oSIP2 list in O(n) (osip_list_get(i) walks from the head
// every time).
template <typename T>
class OsipList {
 public:
  explicit OsipList(const osip_list_t* list) : list_(list) {}
  struct Iterator {
    osip_list_iterator_t it;
    void* element;
    T* operator*() const { return static_cast<T*>(element); }
    Iterator& operator++() {
      element = osip_list_get_next(&it);
      return *this;
    }
    bool operator!=(std::default_sentinel_t) const { return element != nullptr; }
  };
  Iterator begin() const {
    Iterator i{};
    i.element = osip_list_get_first(list_, &i.it);
    return i;
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  const osip_list_t* list_;
};

void DiscardOsipTrace(const char*, int, osip_trace_level_t, const char*,
                      va_list) {}

void EnsureOsipInitialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    parser_init();
    osip_trace_initialize_func(TRACE_LEVEL0, &DiscardOsipTrace);
  });
}

// 'escaped text' for an error message, shortened: input is hostile.
std::string Quote(absl::string_view s) {
  std::string out = absl::StrCat("'", absl::CEscape(s.substr(0, kQuoteBytes)));
  if (s.size() > kQuoteBytes) absl::StrAppend(&out, "...");
  absl::StrAppend(&out, "'");
  return out;
}

absl::Status SipError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("SIP: ", what));
}

absl::string_view Str(const char* s) { return s ? absl::string_view(s) : ""; }
std::string Copy(const char* s) { return s ? std::string(s) : std::string(); }

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

std::optional<uint16_t> ParsePort(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  uint32_t v = 0;
  if (!AllDigits(s) || s.size() > 5 || !absl::SimpleAtoi(s, &v) || v == 0 ||
      v > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(v);
}

// delta-seconds; RFC 3261 20.19: larger than 2**32-1 means 2**32-1.
std::optional<uint32_t> ParseDeltaSeconds(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (!AllDigits(s)) return std::nullopt;
  uint64_t v = 0;
  if (s.size() > 10 || !absl::SimpleAtoi(s, &v) ||
      v > std::numeric_limits<uint32_t>::max()) {
    return std::numeric_limits<uint32_t>::max();
  }
  return static_cast<uint32_t>(v);
}

// Case-insensitive lookup in an oSIP2 generic/uri parameter list.
osip_generic_param_t* FindParam(const osip_list_t* params, absl::string_view name) {
  for (osip_generic_param_t* p : OsipList<osip_generic_param_t>(params)) {
    if (p != nullptr && absl::EqualsIgnoreCase(Str(p->gname), name)) return p;
  }
  return nullptr;
}

void SetParam(osip_list_t* params, const char* name, const std::string& value) {
  if (osip_generic_param_t* p = FindParam(params, name)) {
    osip_free(p->gvalue);
    p->gvalue = osip_strdup(value.c_str());
    return;
  }
  osip_generic_param_add(params, osip_strdup(name), osip_strdup(value.c_str()));
}

std::string UriToString(const osip_uri_t* uri) {
  if (uri == nullptr) return "";
  char* s = nullptr;
  if (osip_uri_to_str(uri, &s) != OSIP_SUCCESS || s == nullptr) return "";
  std::string out(s);
  osip_free(s);
  return out;
}

osip_via_t* TopVia(osip_message_t* m) {
  if (osip_list_size(&m->vias) <= 0) return nullptr;
  return static_cast<osip_via_t*>(osip_list_get(&m->vias, 0));
}

uint16_t DefaultViaPort(absl::string_view transport) {
  return absl::EqualsIgnoreCase(transport, "TLS") ? kSipsDefaultPort
                                                  : kSipDefaultPort;
}

bool IsSipsUri(const osip_uri_t* uri) {
  if (absl::EqualsIgnoreCase(Str(uri->scheme), "sips")) return true;
  auto* t = FindParam(&uri->url_params, "transport");
  return t != nullptr && absl::EqualsIgnoreCase(Str(t->gvalue), "tls");
}

bool IsStar(const osip_contact_t* c) {
  return c->url == nullptr && absl::StripAsciiWhitespace(Str(c->displayname)) == "*";
}

// The lines of a header block after its start line, each without its
// CR/LF, empty ones skipped (folded continuations come as their own lines).
class HeaderLines {
 public:
  explicit HeaderLines(absl::string_view headers)
      : headers_(headers), pos_(headers.find('\n') + 1) {}

  bool Next(absl::string_view* line) {
    while (pos_ > 0 && pos_ < headers_.size()) {
      size_t eol = headers_.find('\n', pos_);
      if (eol == absl::string_view::npos) eol = headers_.size();
      *line = headers_.substr(pos_, eol - pos_);
      pos_ = eol + 1;
      if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
      if (!line->empty()) return true;
    }
    return false;
  }

 private:
  absl::string_view headers_;
  size_t pos_;  // 0 once past the end (npos + 1), like a block without lines
};

// One pass over the header block before oSIP2 sees it: enforces the size
// bounds above, and finds Content-Length ("Content-Length" or compact "l")
// so a short body is reported as truncated and oSIP2 never sees a
// negative or absurd length.
absl::StatusOr<std::optional<size_t>> ScanHeaders(absl::string_view headers) {
  std::optional<size_t> length;
  size_t lines = 0;
  size_t separators = 0;  // in the current header, folded lines included
  size_t total_separators = 0;
  absl::string_view name;
  HeaderLines header_lines(headers);
  absl::string_view line;
  while (header_lines.Next(&line)) {
    const bool folded = line[0] == ' ' || line[0] == '\t';
    if (!folded) {
      if (++lines > kMaxHeaderLines) {
        return SipError(absl::StrCat("more than ", kMaxHeaderLines, " header lines"));
      }
      separators = 0;
      name = absl::StripAsciiWhitespace(line.substr(0, line.find(':')));
    }
    const size_t n = static_cast<size_t>(std::count_if(
        line.begin(), line.end(), [](char c) { return c == ';' || c == ',' || c == '&'; }));
    separators += n;
    total_separators += n;
    if (total_separators > kMaxSeparators) {
      return SipError(absl::StrCat("more than ", kMaxSeparators,
                                   " parameters and list items in the headers"));
    }
    if (separators > kMaxSeparatorsPerHeader) {
      return SipError(absl::StrCat("header ", Quote(name), " has more than ",
                                   kMaxSeparatorsPerHeader, " parameters or list items"));
    }
    const size_t colon = line.find(':');
    if (folded || colon == absl::string_view::npos ||
        (!absl::EqualsIgnoreCase(name, "Content-Length") &&
         !absl::EqualsIgnoreCase(name, "l"))) {
      continue;
    }
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    size_t v = 0;
    if (!AllDigits(value) || value.size() > 9 || !absl::SimpleAtoi(value, &v)) {
      return SipError(absl::StrCat("bad Content-Length ", Quote(value)));
    }
    if (length.has_value() && *length != v) {
      return SipError(absl::StrCat("conflicting Content-Length headers (",
                                   *length, " and ", v, ")"));
    }
    length = v;
  }
  return length;
}

// End of the header block (the index just past its last line's LF) and,
// in *body_start, where the body begins: the first empty line, CRLF or
// bare LF. npos if there is none (the message is cut short).
size_t FindHeaderBlockEnd(absl::string_view text, size_t* body_start) {
  for (size_t i = text.find('\n'); i != absl::string_view::npos;
       i = text.find('\n', i + 1)) {
    if (i + 1 < text.size() && text[i + 1] == '\n') {
      *body_start = i + 2;
      return i + 1;
    }
    if (i + 2 < text.size() && text[i + 1] == '\r' && text[i + 2] == '\n') {
      *body_start = i + 3;
      return i + 1;
    }
  }
  return absl::string_view::npos;
}

// The header block (and its empty line) as oSIP2 gets it: without its
// Content-Length lines, so oSIP2 parses no body (sip_serialize.h says why);
// the body, framed by ScanHeaders' Content-Length, stays with us.
std::string HeadersForOsip(absl::string_view head) {
  std::string out;
  out.reserve(head.size());
  bool content_length = false;  // the current header, folded lines included
  for (size_t pos = 0; pos < head.size();) {
    const size_t eol = std::min(head.find('\n', pos), head.size() - 1) + 1;
    const absl::string_view line = head.substr(pos, eol - pos);
    if (line[0] != ' ' && line[0] != '\t') {
      const size_t colon = line.find(':');
      content_length = pos > 0 && colon != absl::string_view::npos &&
                       SipHeaderNameIs(absl::StripAsciiWhitespace(line.substr(0, colon)),
                                       "Content-Length", "l");
    }
    if (!content_length) absl::StrAppend(&out, line);
    pos = eol;
  }
  return out;
}

std::vector<SipHeader> MissingMandatoryHeaders(const osip_message_t& o) {
  std::vector<SipHeader> missing;
  if (osip_list_size(&o.vias) <= 0) missing.push_back(SipHeader::kVia);
  if (o.from == nullptr || o.from->url == nullptr) missing.push_back(SipHeader::kFrom);
  if (o.to == nullptr || o.to->url == nullptr) missing.push_back(SipHeader::kTo);
  if (o.call_id == nullptr || Str(o.call_id->number).empty()) {
    missing.push_back(SipHeader::kCallId);
  }
  if (o.cseq == nullptr || o.cseq->number == nullptr || o.cseq->method == nullptr) {
    missing.push_back(SipHeader::kCSeq);
  }
  return missing;
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("-.!%*_+`'~").find(c) != absl::string_view::npos;
}

// RFC 3261 7.1 / 7.2, checked by hand so that "this is not SIP at all"
// (HTTP, garbage, a stray STUN packet) gets its own error.
absl::Status CheckStartLine(absl::string_view line) {
  if (absl::StartsWithIgnoreCase(line, "SIP/")) {
    // SIP/2.0 SP 3DIGIT SP Reason-Phrase
    if (!absl::StartsWithIgnoreCase(line, "SIP/2.0 ")) {
      return SipError(absl::StrCat("unsupported SIP version in start line ",
                                   Quote(line)));
    }
    const absl::string_view code = line.substr(8, 3);
    if (code.size() != 3 || !AllDigits(code) || code[0] < '1' || code[0] > '6' ||
        (line.size() > 11 && line[11] != ' ')) {
      return SipError(absl::StrCat("bad status code in start line ", Quote(line)));
    }
    return absl::OkStatus();
  }
  // Method SP Request-URI SP SIP-Version
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == absl::string_view::npos || sp1 == 0 || sp2 == sp1 ||
      !absl::EqualsIgnoreCase(line.substr(sp2 + 1), "SIP/2.0")) {
    return SipError(absl::StrCat("not a SIP message: start line ", Quote(line)));
  }
  for (char c : line.substr(0, sp1)) {
    if (!IsTokenChar(c)) {
      return SipError(absl::StrCat("not a SIP message: bad method in start line ",
                                   Quote(line)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool SipHeaderNameIs(absl::string_view name, absl::string_view full, absl::string_view compact) {
  return absl::EqualsIgnoreCase(name, full) ||
         (!compact.empty() && absl::EqualsIgnoreCase(name, compact));
}

absl::string_view SipHeaderName(SipHeader h) {
  switch (h) {
    case SipHeader::kVia: return "Via";
    case SipHeader::kFrom: return "From";
    case SipHeader::kTo: return "To";
    case SipHeader::kCallId: return "Call-ID";
    case SipHeader::kCSeq: return "CSeq";
  }
  return "?";
}

std::string SipNameAddr::aor() const {
  return user.empty() ? host : absl::StrCat(user, "@", host);
}

void SipMessage::OsipDeleter::operator()(osip_message* m) const {
  osip_message_free(m);
}

SipMessage::SipMessage(OsipPtr msg, std::string body)
    : msg_(std::move(msg)), body_(std::move(body)) {}
SipMessage::SipMessage(SipMessage&&) noexcept = default;
SipMessage& SipMessage::operator=(SipMessage&&) noexcept = default;
SipMessage::~SipMessage() = default;

absl::StatusOr<SipMessage> SipMessage::Parse(absl::string_view bytes) {
  return ParseImpl(bytes, /*require_mandatory=*/true);
}

absl::StatusOr<SipMessage> SipMessage::ParseLenient(absl::string_view bytes) {
  return ParseImpl(bytes, /*require_mandatory=*/false);
}

namespace {

// The response's echo of `headers` (the header block, start line first):
// see SipMessage::EchoLines. nullopt when the text is unusual.
std::optional<SipMessage::EchoLines> ExtractEchoLines(absl::string_view headers) {
  enum Slot : uint8_t { kOther, kFirstVia, kVia, kFrom, kTo, kCallId, kCSeq };
  auto slot_of = [](absl::string_view name) {
    auto is = [name](absl::string_view full, absl::string_view compact) {
      return SipHeaderNameIs(name, full, compact);
    };
    if (is("Via", "v")) return kVia;
    if (is("From", "f")) return kFrom;
    if (is("To", "t")) return kTo;
    if (is("Call-ID", "i")) return kCallId;
    if (is("CSeq", "")) return kCSeq;
    return kOther;
  };
  SipMessage::EchoLines echo;
  std::string from, call_id, cseq;
  bool seen_via = false;
  Slot slot = kOther;
  HeaderLines lines(headers);
  absl::string_view line;
  while (lines.Next(&line)) {
    // oSIP2 also breaks lines at a bare CR: such text is not copied, so
    // the reply cannot disagree with what was parsed.
    if (line.find('\r') != absl::string_view::npos) return std::nullopt;
    const bool folded = line[0] == ' ' || line[0] == '\t';
    if (folded && absl::StripAsciiWhitespace(line).empty()) continue;  // adds nothing
    if (!folded) {
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) return std::nullopt;
      slot = slot_of(absl::StripAsciiWhitespace(line.substr(0, colon)));
      if (slot == kVia && !seen_via) {
        seen_via = true;
        slot = kFirstVia;
      }
      std::string* single = slot == kFrom     ? &from
                            : slot == kTo     ? &echo.to
                            : slot == kCallId ? &call_id
                            : slot == kCSeq   ? &cseq
                                              : nullptr;
      if (single != nullptr && !single->empty()) return std::nullopt;  // repeated
    }
    switch (slot) {
      case kOther:
        break;
      case kFirstVia:
        // Its first value is the one rewritten (received/rport); with a
        // second value on the same line the split is not worth it here.
        if (line.find(',') != absl::string_view::npos) return std::nullopt;
        break;
      case kVia:
        absl::StrAppend(&echo.before_to, line, "\r\n");
        break;
      case kFrom:
        absl::StrAppend(&from, line, "\r\n");
        break;
      case kTo:
        absl::StrAppend(&echo.to, echo.to.empty() ? "" : "\r\n", line);
        break;
      case kCallId:
        absl::StrAppend(&call_id, line, "\r\n");
        break;
      case kCSeq:
        absl::StrAppend(&cseq, line, "\r\n");
        break;
    }
  }
  if (!seen_via || from.empty() || echo.to.empty() || call_id.empty() || cseq.empty()) {
    return std::nullopt;
  }
  while (!echo.to.empty() && absl::ascii_isspace(static_cast<unsigned char>(echo.to.back()))) {
    echo.to.pop_back();
  }
  absl::StrAppend(&echo.before_to, from);
  echo.after_to = absl::StrCat(call_id, cseq);
  return echo;
}

}  // namespace

absl::StatusOr<SipMessage> SipMessage::ParseImpl(absl::string_view bytes,
                                                 bool require_mandatory) {
  if (bytes.size() > kMaxSipMessageBytes) {
    return SipError(absl::StrCat("message of ", bytes.size(),
                                 " bytes exceeds the ", kMaxSipMessageBytes,
                                 "-byte limit"));
  }
  // RFC 3261 7.5: ignore CRLFs before the start line (they are also the
  // RFC 5626 keep-alive, which carries no message).
  const size_t start = bytes.find_first_not_of("\r\n");
  if (start == absl::string_view::npos) {
    return SipError(bytes.empty() ? "empty message"
                                  : "empty message (only CR/LF: a keep-alive)");
  }
  const absl::string_view text = bytes.substr(start);
  size_t body_start = 0;
  const size_t header_end = FindHeaderBlockEnd(text, &body_start);
  // oSIP2 reads the start line and headers as C strings, so no NUL there;
  // the body may hold any byte (S/MIME): oSIP2 never sees it.
  if (const size_t nul = text.substr(0, header_end).find('\0');
      nul != absl::string_view::npos) {
    return SipError(absl::StrCat("NUL byte at offset ", start + nul, " (in the headers)"));
  }
  absl::string_view start_line = text.substr(0, text.find('\n'));
  if (!start_line.empty() && start_line.back() == '\r') start_line.remove_suffix(1);
  if (absl::Status s = CheckStartLine(start_line); !s.ok()) return s;
  if (header_end == absl::string_view::npos) {
    return SipError("truncated: no empty line after the headers");
  }

  absl::string_view body = text.substr(body_start);
  auto content_length = ScanHeaders(text.substr(0, header_end));
  if (!content_length.ok()) return content_length.status();
  if (content_length->has_value()) {
    if (**content_length > body.size()) {
      return SipError(absl::StrCat("truncated: Content-Length ", **content_length,
                                   " but ", body.size(), " body bytes"));
    }
    body = body.substr(0, **content_length);
  }

  EnsureOsipInitialised();
  osip_message_t* raw = nullptr;
  if (osip_message_init(&raw) != OSIP_SUCCESS || raw == nullptr) {
    return absl::ResourceExhaustedError("SIP: out of memory");
  }
  OsipPtr msg(raw);
  // NUL-terminated, as oSIP2 wants (std::string guarantees it).
  const std::string input = HeadersForOsip(text.substr(0, body_start));
  if (const int rc = osip_message_parse(msg.get(), input.data(), input.size());
      rc != OSIP_SUCCESS) {
    return SipError(absl::StrCat("malformed message (oSIP2 error ", rc,
                                 "); start line ", Quote(start_line)));
  }
  if (MSG_IS_REQUEST(msg) ? (msg->sip_method == nullptr || msg->req_uri == nullptr)
                          : msg->status_code < 100) {
    return SipError(absl::StrCat("malformed start line ", Quote(start_line)));
  }
  if (absl::Status s = SetOpaqueBody(msg.get(), body); !s.ok()) return s;

  SipMessage m(std::move(msg), std::string(body));
  m.missing_ = MissingMandatoryHeaders(*m.msg_);
  if (require_mandatory && !m.missing_.empty()) {
    std::vector<absl::string_view> names;
    for (SipHeader h : m.missing_) names.push_back(SipHeaderName(h));
    return SipError(absl::StrCat("missing mandatory header(s): ",
                                 absl::StrJoin(names, ", ")));
  }
  if (absl::Status s = m.Validate(); !s.ok()) return s;
  if (m.is_request()) m.echo_ = ExtractEchoLines(text.substr(0, header_end));
  return m;
}

// Checks, once, every value an accessor converts, so accessors cannot fail.
absl::Status SipMessage::Validate() const {
  osip_message_t* o = msg_.get();
  if (osip_via_t* v = TopVia(o)) {
    if (Str(v->host).empty() || Str(v->protocol).empty()) {
      return SipError("top Via: no transport or sent-by host");
    }
    if (v->port != nullptr && !ParsePort(v->port)) {
      return SipError(absl::StrCat("top Via: bad port ", Quote(v->port)));
    }
    if (auto* rport = FindParam(&v->via_params, "rport");
        rport != nullptr && rport->gvalue != nullptr && !ParsePort(rport->gvalue)) {
      return SipError(absl::StrCat("top Via: bad rport ", Quote(rport->gvalue)));
    }
  }
  if (o->cseq != nullptr && o->cseq->number != nullptr) {
    const absl::string_view n = absl::StripAsciiWhitespace(o->cseq->number);
    uint32_t v = 0;
    if (!AllDigits(n) || n.size() > 10 || !absl::SimpleAtoi(n, &v)) {
      return SipError(absl::StrCat("CSeq: bad number ", Quote(o->cseq->number)));
    }
    // RFC 3261 8.1.1.5: a request's CSeq method matches its method.
    if (MSG_IS_REQUEST(o) && o->cseq->method != nullptr &&
        Str(o->cseq->method) != Str(o->sip_method)) {
      return SipError(absl::StrCat("CSeq method ", Quote(o->cseq->method),
                                   " does not match request method ",
                                   Quote(o->sip_method)));
    }
  }
  for (osip_contact_t* c : OsipList<osip_contact_t>(&o->contacts)) {
    if (c == nullptr || IsStar(c)) continue;
    if (c->url == nullptr) return SipError("Contact without a URI");
    if (c->url->port != nullptr && !ParsePort(c->url->port)) {
      return SipError(absl::StrCat("Contact: bad port ", Quote(c->url->port)));
    }
    if (auto* e = FindParam(&c->gen_params, "expires");
        e != nullptr && !ParseDeltaSeconds(Str(e->gvalue))) {
      return SipError(absl::StrCat("Contact: bad expires ", Quote(Str(e->gvalue))));
    }
  }
  for (const std::string& e : header_values("Expires")) {
    if (!ParseDeltaSeconds(e)) {
      return SipError(absl::StrCat("bad Expires ", Quote(e)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SipMessage> SipMessage::Clone() const {
  osip_message_t* copy = nullptr;
  if (osip_message_clone(msg_.get(), &copy) != OSIP_SUCCESS || copy == nullptr) {
    return absl::InternalError("SIP: could not copy message");
  }
  SipMessage m(OsipPtr(copy), body_);
  m.missing_ = missing_;
  m.echo_ = echo_;
  return m;
}

bool SipMessage::is_request() const { return MSG_IS_REQUEST(msg_); }

std::string SipMessage::method() const {
  return is_request() ? std::string(Str(msg_->sip_method)) : "";
}

int SipMessage::status_code() const { return msg_->status_code; }

std::string SipMessage::reason_phrase() const {
  return std::string(Str(msg_->reason_phrase));
}

std::string SipMessage::request_uri() const {
  return is_request() ? UriToString(msg_->req_uri) : "";
}

std::optional<absl::string_view> SipMessage::top_via_param(absl::string_view name) const {
  osip_via_t* v = TopVia(msg_.get());
  if (v == nullptr) return std::nullopt;
  osip_generic_param_t* p = FindParam(&v->via_params, name);
  if (p == nullptr) return std::nullopt;
  return Str(p->gvalue);
}

absl::string_view SipMessage::from_tag() const {
  if (msg_->from == nullptr) return "";
  osip_generic_param_t* p = FindParam(&msg_->from->gen_params, "tag");
  return p != nullptr ? Str(p->gvalue) : "";
}

absl::string_view SipMessage::to_tag() const {
  if (msg_->to == nullptr) return "";
  osip_generic_param_t* p = FindParam(&msg_->to->gen_params, "tag");
  return p != nullptr ? Str(p->gvalue) : "";
}

SipVia SipMessage::top_via() const {
  SipVia via;
  osip_via_t* v = TopVia(msg_.get());
  if (v == nullptr) return via;
  via.transport = absl::AsciiStrToUpper(Str(v->protocol));
  via.host = std::string(Str(v->host));
  std::optional<uint16_t> port = v->port ? ParsePort(v->port) : std::nullopt;
  via.port_explicit = port.has_value();
  via.port = port.value_or(DefaultViaPort(via.transport));
  if (auto* p = FindParam(&v->via_params, "rport")) {
    via.has_rport = true;
    if (p->gvalue != nullptr) via.rport = ParsePort(p->gvalue);
  }
  if (auto* p = FindParam(&v->via_params, "received")) via.received = Copy(p->gvalue);
  if (auto* p = FindParam(&v->via_params, "branch")) via.branch = Copy(p->gvalue);
  return via;
}

size_t SipMessage::via_count() const {
  const int n = osip_list_size(&msg_->vias);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

std::vector<SipContact> SipMessage::contacts() const {
  std::vector<SipContact> out;
  for (osip_contact_t* c : OsipList<osip_contact_t>(&msg_->contacts)) {
    if (c == nullptr) continue;
    SipContact contact;
    if (IsStar(c)) {
      contact.star = true;
      out.push_back(std::move(contact));
      continue;
    }
    if (c->url == nullptr) continue;  // rejected by Validate
    contact.uri = UriToString(c->url);
    contact.scheme = absl::AsciiStrToLower(Str(c->url->scheme));
    contact.user = Copy(c->url->username);
    contact.host = Copy(c->url->host);
    std::optional<uint16_t> port = c->url->port ? ParsePort(c->url->port) : std::nullopt;
    contact.port_explicit = port.has_value();
    contact.port = port.value_or(IsSipsUri(c->url) ? kSipsDefaultPort : kSipDefaultPort);
    if (auto* e = FindParam(&c->gen_params, "expires")) {
      contact.expires = ParseDeltaSeconds(Str(e->gvalue));
    }
    contact.outbound_flow = FindParam(&c->gen_params, "reg-id") != nullptr &&
                            FindParam(&c->gen_params, "+sip.instance") != nullptr;
    osip_uri_param_t* ob = nullptr;
    contact.ob = osip_uri_uparam_get_byname(c->url, const_cast<char*>("ob"), &ob) == OSIP_SUCCESS;
    out.push_back(std::move(contact));
  }
  return out;
}

namespace {
SipNameAddr NameAddrOf(const osip_from_t* h) {
  SipNameAddr out;
  if (h == nullptr || h->url == nullptr) return out;
  out.uri = UriToString(h->url);
  out.user = Copy(h->url->username);
  out.host = Copy(h->url->host);
  if (auto* t = FindParam(&h->gen_params, "tag")) {
    out.tag = Copy(t->gvalue);
  }
  return out;
}
}  // namespace

SipNameAddr SipMessage::from() const { return NameAddrOf(msg_->from); }
SipNameAddr SipMessage::to() const { return NameAddrOf(msg_->to); }

std::string SipMessage::call_id() const {
  if (msg_->call_id == nullptr) return "";
  if (msg_->call_id->host == nullptr) return std::string(Str(msg_->call_id->number));
  return absl::StrCat(Str(msg_->call_id->number), "@", msg_->call_id->host);
}

uint32_t SipMessage::cseq_number() const {
  uint32_t v = 0;
  if (msg_->cseq != nullptr) {
    (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(Str(msg_->cseq->number)), &v);
  }
  return v;
}

std::string SipMessage::cseq_method() const {
  return msg_->cseq ? std::string(Str(msg_->cseq->method)) : "";
}

std::vector<std::string> SipMessage::header_values(absl::string_view name) const {
  std::vector<std::string> out;
  for (osip_header_t* h : OsipList<osip_header_t>(&msg_->headers)) {
    if (h != nullptr && absl::EqualsIgnoreCase(Str(h->hname), name)) {
      out.emplace_back(Str(h->hvalue));
    }
  }
  return out;
}

std::vector<SipChallenge> SipMessage::challenges(bool proxy) const {
  auto unquote = [](const char* s) {
    absl::string_view v = Str(s);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  };
  std::vector<SipChallenge> out;
  const osip_list_t* list = proxy ? &msg_->proxy_authenticates : &msg_->www_authenticates;
  for (osip_www_authenticate_t* w : OsipList<osip_www_authenticate_t>(list)) {
    if (w == nullptr || !absl::EqualsIgnoreCase(Str(w->auth_type), "Digest")) continue;
    SipChallenge c;
    c.realm = unquote(w->realm);
    c.nonce = unquote(w->nonce);
    if (w->opaque != nullptr) c.opaque = unquote(w->opaque);
    c.algorithm = unquote(w->algorithm);
    c.qop = unquote(w->qop_options);
    c.stale = absl::EqualsIgnoreCase(unquote(w->stale), "true");
    out.push_back(std::move(c));
  }
  return out;
}

std::string SipMessage::user_agent() const {
  std::vector<std::string> ua = header_values("User-Agent");
  if (ua.empty() && !is_request()) ua = header_values("Server");
  return ua.empty() ? "" : ua.front();
}

std::optional<uint32_t> SipMessage::expires() const {
  std::vector<std::string> e = header_values("Expires");
  if (e.empty()) return std::nullopt;
  return ParseDeltaSeconds(e.front());
}

std::string SipMessage::content_type() const {
  const osip_content_type_t* ct = msg_->content_type;
  if (ct == nullptr || ct->type == nullptr) return "";
  if (ct->subtype == nullptr) return std::string(ct->type);
  return absl::StrCat(ct->type, "/", ct->subtype);
}

bool SipMessage::has_sdp_body() const {
  return !body_.empty() && absl::EqualsIgnoreCase(content_type(), "application/sdp");
}

absl::Status SipMessage::ApplyReceivedAndRport(const Endpoint& source,
                                               bool force_rport) {
  osip_via_t* v = TopVia(msg_.get());
  if (v == nullptr) return absl::FailedPreconditionError("SIP: message has no Via");
  const bool rport = force_rport || FindParam(&v->via_params, "rport") != nullptr;
  auto sent_by = IpAddress::Parse(Str(v->host));
  if (rport || !sent_by.ok() || !(*sent_by == source.ip)) {
    // No brackets around IPv6 here (RFC 3261 grammar: received = IPv6address).
    SetParam(&v->via_params, "received", source.ip.ToString());
  }
  if (rport) SetParam(&v->via_params, "rport", absl::StrCat(source.port));
  osip_message_force_update(msg_.get());
  return absl::OkStatus();
}

absl::Status SipMessage::PushVia(absl::string_view via_value) {
  osip_via_t* via = nullptr;
  if (osip_via_init(&via) != OSIP_SUCCESS) return absl::InternalError("SIP: out of memory");
  const std::string value(via_value);
  if (osip_via_parse(via, value.c_str()) != OSIP_SUCCESS) {
    osip_via_free(via);
    return SipError(absl::StrCat("bad Via ", Quote(value)));
  }
  osip_list_add(&msg_->vias, via, 0);
  osip_message_force_update(msg_.get());
  echo_.reset();
  return absl::OkStatus();
}

absl::Status SipMessage::PopVia() {
  osip_via_t* v = TopVia(msg_.get());
  if (v == nullptr) return absl::FailedPreconditionError("SIP: message has no Via");
  osip_list_remove(&msg_->vias, 0);
  osip_via_free(v);
  osip_message_force_update(msg_.get());
  echo_.reset();
  return absl::OkStatus();
}

absl::Status SipMessage::SetRequestUri(absl::string_view uri) {
  osip_uri_t* u = nullptr;
  if (osip_uri_init(&u) != OSIP_SUCCESS) return absl::InternalError("SIP: out of memory");
  const std::string value(uri);
  if (osip_uri_parse(u, value.c_str()) != OSIP_SUCCESS) {
    osip_uri_free(u);
    return SipError(absl::StrCat("bad Request-URI ", Quote(value)));
  }
  osip_uri_free(msg_->req_uri);
  msg_->req_uri = u;
  osip_message_force_update(msg_.get());
  return absl::OkStatus();
}

int SipMessage::DecrementMaxForwards() {
  osip_header_t* h = nullptr;
  int value = 70;
  if (osip_message_get_max_forwards(msg_.get(), 0, &h) >= 0 && h != nullptr) {
    const absl::string_view v = absl::StripAsciiWhitespace(Str(h->hvalue));
    if (!AllDigits(v) || v.size() > 3 || !absl::SimpleAtoi(v, &value)) value = 70;
    if (value > 255) value = 255;
  }
  if (value == 0) return -1;
  --value;
  if (h != nullptr) {
    osip_free(h->hvalue);
    h->hvalue = osip_strdup(absl::StrCat(value).c_str());
  } else {
    osip_message_set_max_forwards(msg_.get(), absl::StrCat(value).c_str());
  }
  osip_message_force_update(msg_.get());
  return value;
}

absl::Status SipMessage::PushRecordRoute(absl::string_view value) {
  osip_record_route_t* rr = nullptr;
  if (osip_record_route_init(&rr) != OSIP_SUCCESS) return absl::InternalError("SIP: out of memory");
  const std::string v(value);
  if (osip_record_route_parse(rr, v.c_str()) != OSIP_SUCCESS) {
    osip_record_route_free(rr);
    return SipError(absl::StrCat("bad Record-Route ", Quote(v)));
  }
  osip_list_add(&msg_->record_routes, rr, 0);
  osip_message_force_update(msg_.get());
  return absl::OkStatus();
}

std::vector<std::string> SipMessage::routes() const {
  std::vector<std::string> out;
  for (osip_route_t* r : OsipList<osip_route_t>(&msg_->routes)) {
    if (auto s = OsipToString(osip_route_to_str, r)) out.push_back(*s);
  }
  return out;
}

std::vector<std::string> SipMessage::record_routes() const {
  std::vector<std::string> out;
  for (osip_record_route_t* r : OsipList<osip_record_route_t>(&msg_->record_routes)) {
    if (auto s = OsipToString(osip_record_route_to_str, r)) out.push_back(*s);
  }
  return out;
}

bool SipMessage::top_route_has_param(absl::string_view name) const {
  if (osip_list_size(&msg_->routes) <= 0) return false;
  auto* r = static_cast<osip_route_t*>(osip_list_get(&msg_->routes, 0));
  if (r == nullptr || r->url == nullptr) return false;
  const std::string wanted(name);
  osip_uri_param_t* param = nullptr;
  return osip_uri_uparam_get_byname(r->url, const_cast<char*>(wanted.c_str()), &param) ==
         OSIP_SUCCESS;
}

std::optional<SipContact> SipMessage::top_route() const {
  if (osip_list_size(&msg_->routes) <= 0) return std::nullopt;
  auto* r = static_cast<osip_route_t*>(osip_list_get(&msg_->routes, 0));
  if (r == nullptr || r->url == nullptr) return std::nullopt;
  SipContact c;
  c.uri = UriToString(r->url);
  c.scheme = std::string(Str(r->url->scheme));
  c.user = std::string(Str(r->url->username));
  c.host = std::string(Str(r->url->host));
  c.port_explicit = r->url->port != nullptr;
  c.port = kSipDefaultPort;
  if (r->url->port != nullptr) {
    if (auto p = ParsePort(r->url->port)) c.port = *p;
  }
  return c;
}

void SipMessage::PopRoute() {
  if (osip_list_size(&msg_->routes) <= 0) return;
  auto* r = static_cast<osip_route_t*>(osip_list_get(&msg_->routes, 0));
  osip_list_remove(&msg_->routes, 0);
  osip_route_free(r);
  osip_message_force_update(msg_.get());
}

absl::Status SipMessage::SetBody(absl::string_view body, absl::string_view content_type) {
  if (absl::Status s = SetOpaqueBody(msg_.get(), body); !s.ok()) return s;
  if (!body.empty()) {
    osip_content_type_free(msg_->content_type);
    msg_->content_type = nullptr;
    const std::string ct(content_type);
    if (osip_message_set_content_type(msg_.get(), ct.c_str()) != OSIP_SUCCESS) {
      return SipError(absl::StrCat("bad Content-Type ", Quote(ct)));
    }
  }
  body_ = std::string(body);
  osip_message_force_update(msg_.get());
  return absl::OkStatus();
}

void SipMessage::RemoveProxyAuthorizations(absl::string_view realm) {
  osip_message_t* o = msg_.get();
  bool removed = false;
  for (int i = osip_list_size(&o->proxy_authorizations) - 1; i >= 0; --i) {
    auto* a = static_cast<osip_authorization_t*>(osip_list_get(&o->proxy_authorizations, i));
    if (a == nullptr) continue;
    absl::string_view r = Str(osip_authorization_get_realm(a));
    if (r.size() >= 2 && r.front() == '"' && r.back() == '"') r = r.substr(1, r.size() - 2);
    if (!absl::EqualsIgnoreCase(r, realm)) continue;
    osip_list_remove(&o->proxy_authorizations, i);
    osip_authorization_free(a);
    removed = true;
  }
  if (removed) osip_message_force_update(o);
}

void SipMessage::RemoveHeaders(absl::string_view name) {
  osip_message_t* o = msg_.get();
  bool removed = false;
  for (int i = osip_list_size(&o->headers) - 1; i >= 0; --i) {
    auto* h = static_cast<osip_header_t*>(osip_list_get(&o->headers, i));
    if (h == nullptr || !absl::EqualsIgnoreCase(Str(h->hname), name)) continue;
    osip_list_remove(&o->headers, i);
    osip_header_free(h);
    removed = true;
  }
  if (removed) osip_message_force_update(o);
}

absl::Status SipMessage::AddHeader(absl::string_view name, absl::string_view value) {
  const std::string n(name), v(value);
  if (osip_message_set_header(msg_.get(), n.c_str(), v.c_str()) != OSIP_SUCCESS) {
    return SipError(absl::StrCat("bad header ", Quote(n)));
  }
  osip_message_force_update(msg_.get());
  return absl::OkStatus();
}

osip_message* SipMessage::ReleaseOsip() && { return msg_.release(); }

// const: the tree is changed only while SerializeSipMessage runs.
absl::StatusOr<std::string> SipMessage::Serialize() const {
  return SerializeSipMessage(msg_.get());
}

}  // namespace rtplatch
