#include "control/guard/raw_sip_head.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace rtplatch {
namespace {

// A header line's name (trailing whitespace stripped) and trimmed value;
// false if it has no colon.
bool SplitLine(absl::string_view line, absl::string_view* name, absl::string_view* value) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return false;
  *name = absl::StripTrailingAsciiWhitespace(line.substr(0, colon));
  *value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  return true;
}

// The part of a name-addr after the <URI> (and a quoted display name),
// where header parameters live; all of it for a bare addr-spec.
absl::string_view HeaderParams(absl::string_view value) {
  size_t i = 0;
  bool quoted = false;
  for (; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      const size_t close = value.find('>', i);
      return close == absl::string_view::npos ? absl::string_view() : value.substr(close + 1);
    }
  }
  return value;
}

}  // namespace

bool ToValueHasTag(absl::string_view value) {
  absl::string_view rest = HeaderParams(value);
  // What comes before the first ';' is the URI or nothing.
  for (size_t semi = rest.find(';'); semi != absl::string_view::npos;) {
    rest.remove_prefix(semi + 1);
    semi = rest.find(';');
    absl::string_view p = absl::StripAsciiWhitespace(rest.substr(0, semi));
    if (!absl::StartsWithIgnoreCase(p, "tag")) continue;
    p = absl::StripLeadingAsciiWhitespace(p.substr(3));
    if (absl::ConsumePrefix(&p, "=") && !absl::StripAsciiWhitespace(p).empty()) return true;
  }
  return false;
}

RawSipHead SniffSipHead(absl::string_view bytes) {
  RawSipHead head;
  bytes = absl::StripLeadingAsciiWhitespace(bytes);
  const size_t first_end = bytes.find('\n');
  const absl::string_view start = bytes.substr(0, first_end);
  if (absl::StartsWith(start, "SIP/")) {
    head.is_response = true;
  } else {
    head.method = start.substr(0, start.find(' '));
    if (head.method.size() == start.size()) {
      head.method = {};  // no request line
    } else {
      const absl::string_view rest = start.substr(head.method.size() + 1);
      head.request_uri = rest.substr(0, rest.find(' '));
    }
  }
  size_t pos = first_end;
  while (pos != absl::string_view::npos && pos + 1 < bytes.size()) {
    absl::string_view line = bytes.substr(pos + 1);
    const size_t end = line.find('\n');
    line = line.substr(0, end);
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty()) break;  // the end of the headers
    // Each line split once, its name then compared (this runs for every
    // datagram while the control plane sheds load).
    absl::string_view name, value;
    if (!SplitLine(line, &name, &value)) {
      // not a header: nothing to read
    } else if (HeaderNameIs(name, "To", "t")) {
      head.to_tag = head.to_tag || ToValueHasTag(value);
      if (head.to_headers++ == 0) head.to = value;
    } else if (HeaderNameIs(name, "Call-ID", "i")) {
      if (head.call_id.empty()) head.call_id = value;
    } else if (HeaderNameIs(name, "Authorization") || HeaderNameIs(name, "Proxy-Authorization")) {
      head.credentials = true;
    } else if (HeaderNameIs(name, "Require") || HeaderNameIs(name, "Proxy-Require")) {
      head.extensions = true;
    }
    pos = end == absl::string_view::npos ? end : pos + 1 + end;
  }
  return head;
}

}  // namespace rtplatch
