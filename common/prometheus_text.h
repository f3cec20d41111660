// Prometheus's text exposition format (version 0.0.4), written by both
// processes for their /metrics endpoint (metrics_http_server.h). One
// family at a time: its HELP and TYPE lines, then its samples. Names are
// checked against the format's grammar, label values escaped, so a scrape
// never fails to parse whatever a peer put into a label (a user agent, a
// peer's name).
//
// Not thread-safe; cheap: a scrape renders counters, never walks bindings
// or calls.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rtplatch {

enum class MetricType { kCounter, kGauge, kHistogram };

// A label's name and value.
using MetricLabel = std::pair<absl::string_view, absl::string_view>;

class PrometheusText {
 public:
  // Starts a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* (a bad
  // one is a programming error: the family is written as
  // rtplatch_invalid_metric_name and counted in invalid_names()).
  void Family(absl::string_view name, MetricType type, absl::string_view help);
  // One sample of the family begun last; `suffix` extends its name
  // (histograms' "_bucket", "_sum", "_count").
  void Sample(double value, std::initializer_list<MetricLabel> labels = {},
              absl::string_view suffix = "");
  void Sample(double value, absl::Span<const MetricLabel> labels, absl::string_view suffix = "");

  // A family with one sample and no labels.
  void Counter(absl::string_view name, absl::string_view help, uint64_t value);
  void Gauge(absl::string_view name, absl::string_view help, double value);

  // A histogram's samples: `upper_bounds` (ascending, without +Inf) and
  // the count in each bucket (not cumulative; one more for +Inf), their
  // sum and count.
  void Histogram(absl::string_view name, absl::string_view help,
                 absl::Span<const double> upper_bounds, absl::Span<const uint64_t> counts,
                 double sum, std::initializer_list<MetricLabel> labels = {});

  static bool ValidName(absl::string_view name);
  static bool ValidLabelName(absl::string_view name);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }
  int invalid_names() const { return invalid_names_; }

 private:
  void AppendValue(double value);
  void AppendEscaped(absl::string_view value);

  std::string out_;
  std::string family_;
  int invalid_names_ = 0;
};

}  // namespace rtplatch
