#include "common/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr absl::string_view kInvalidName = "rtplatch_invalid_metric_name";

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool NameChar(char c, bool first, bool colon) {
  return absl::ascii_isalpha(c) || c == '_' || (colon && c == ':') ||
         (!first && absl::ascii_isdigit(c));
}

bool Valid(absl::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

// The shortest of %.15g and %.17g that reads back as `value` ("0.1", not
// "0.10000000000000001").
void AppendDouble(std::string& out, double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", value);
  if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof(buf), "%.17g", value);
  out += buf;
}

}  // namespace

bool PrometheusText::ValidName(absl::string_view name) { return Valid(name, true); }

bool PrometheusText::ValidLabelName(absl::string_view name) {
  // Names beginning with "__" are reserved for Prometheus itself.
  return Valid(name, false) && !absl::StartsWith(name, "__");
}

void PrometheusText::Family(absl::string_view name, MetricType type, absl::string_view help) {
  if (!ValidName(name)) {
    ++invalid_names_;
    name = kInvalidName;
  }
  family_.assign(name.data(), name.size());
  absl::StrAppend(&out_, "# HELP ", name, " ");
  // HELP escapes only backslash and newline.
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  absl::StrAppend(&out_, "\n# TYPE ", name, " ", TypeName(type), "\n");
}

void PrometheusText::Sample(double value, std::initializer_list<MetricLabel> labels,
                            absl::string_view suffix) {
  Sample(value, absl::MakeConstSpan(labels.begin(), labels.size()), suffix);
}

void PrometheusText::Sample(double value, absl::Span<const MetricLabel> labels,
                            absl::string_view suffix) {
  absl::StrAppend(&out_, family_, suffix);
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [name, label_value] : labels) {
      if (!ValidLabelName(name)) {
        ++invalid_names_;
        continue;
      }
      if (!first) out_ += ',';
      first = false;
      absl::StrAppend(&out_, name, "=\"");
      AppendEscaped(label_value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  AppendValue(value);
  out_ += '\n';
}

void PrometheusText::Counter(absl::string_view name, absl::string_view help, uint64_t value) {
  Family(name, MetricType::kCounter, help);
  Sample(static_cast<double>(value));
}

void PrometheusText::Gauge(absl::string_view name, absl::string_view help, double value) {
  Family(name, MetricType::kGauge, help);
  Sample(value);
}

void PrometheusText::Histogram(absl::string_view name, absl::string_view help,
                               absl::Span<const double> upper_bounds,
                               absl::Span<const uint64_t> counts, double sum,
                               std::initializer_list<MetricLabel> labels) {
  Family(name, MetricType::kHistogram, help);
  std::vector<MetricLabel> with_le(labels.begin(), labels.end());
  with_le.emplace_back("le", "");
  uint64_t cumulative = 0;
  std::string bound;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    if (i < counts.size()) cumulative += counts[i];
    if (i < upper_bounds.size()) {
      bound.clear();
      AppendDouble(bound, upper_bounds[i]);
      with_le.back().second = bound;
    } else {
      with_le.back().second = "+Inf";
    }
    Sample(static_cast<double>(cumulative), with_le, "_bucket");
  }
  Sample(sum, absl::MakeConstSpan(labels.begin(), labels.size()), "_sum");
  Sample(static_cast<double>(cumulative), absl::MakeConstSpan(labels.begin(), labels.size()),
         "_count");
}

void PrometheusText::AppendValue(double value) {
  if (std::isnan(value)) {
    out_ += "NaN";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    absl::StrAppend(&out_, static_cast<int64_t>(value));
  } else {
    AppendDouble(out_, value);
  }
}

void PrometheusText::AppendEscaped(absl::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out_ += "\\\\";
        break;
      case '"':
        out_ += "\\\"";
        break;
      case '\n':
        out_ += "\\n";
        break;
      default:
        out_ += c;
    }
  }
}

}  // namespace rtplatch
